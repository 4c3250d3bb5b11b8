"""A planner's training windows: the start symbol, then T frames of one utterance's units in
the planner's codes; drawn reproducibly; bad settings refused in one line."""

import shutil

import numpy as np
import pytest
import torch

from wavegen.data.dump import DumpStore, dump_data_dir
from wavegen.data.segments import PlanSegmentSampler
from wavegen.errors import WavegenError
from wavegen.units.codes import start_code, units_to_codes
from wavegen.units.store import UnitStore, n_frames_for, write_unit_store

HOP, K = 160, 64


@pytest.fixture(scope="module")
def dump(prepared, tmp_path_factory):
    """A dump of the toy train set with made-up unit tables (random ids, seeded per
    utterance, so every window of 20 frames says where it came from)."""
    data, _ = prepared
    root = tmp_path_factory.mktemp("plan_segments") / "train"
    dump_data_dir(data / "train", root, 8000)
    store = DumpStore(root)
    tables = [(u, np.random.default_rng(i).integers(0, K, n_frames_for(store.index[u][1], HOP)))
              for i, u in enumerate(store.utts)]
    write_unit_store(root / "units", tables, HOP, 8000, K, {"name": "made-up"})
    return root


def test_windows_are_the_start_symbol_then_frames_of_one_utterance(dump):
    store, units = DumpStore(dump), UnitStore(dump / "units")
    sampler = PlanSegmentSampler(store, units, 20)
    codes, cond = sampler.batch(16, torch.Generator().manual_seed(0))
    assert codes.shape == (16, 21) and cond.shape == (16, len(store.vocab))
    assert (codes[:, 0] == start_code(K)).all() and (codes[:, 1:] != start_code(K)).all()
    for row, label in zip(codes, cond, strict=True):
        found = [u for u in store.utts
                 if _holds(units_to_codes(units.units(u).astype(np.int64), K), row[1:])]
        assert len(found) == 1
        assert torch.equal(label, torch.from_numpy(store.label_vector(found[0])))
    again = sampler.batch(16, torch.Generator().manual_seed(0))[0]
    assert torch.equal(codes, again)


def _holds(seq: torch.Tensor, window: torch.Tensor) -> bool:
    n = window.numel()
    return any(torch.equal(seq[k:k + n], window) for k in range(seq.numel() - n + 1))


def test_every_start_frame_is_drawn_including_the_first_and_the_last(dump):
    store, units = DumpStore(dump), UnitStore(dump / "units")
    sampler = PlanSegmentSampler(store, units, 45)  # 1 s clips: 50 frames, 6 start frames
    codes, _ = sampler.batch(400, torch.Generator().manual_seed(1))
    firsts = {int(c) for c in codes[:, 1]}
    frames = n_frames_for(store.index[store.utts[0]][1], HOP)
    assert frames - 45 + 1 == 6
    # 10 utterances x 6 start frames, random ids of 64: most first frames differ.
    assert len(firsts) >= 30


@pytest.mark.parametrize("length,weights,match", [
    (51, None, "longer than every utterance"),
    (10**6, None, "longer than every utterance"),
    (20, {"polka": 2.0}, "polka"),
])
def test_bad_settings_are_one_line(dump, length, weights, match):
    with pytest.raises(WavegenError, match=match):
        PlanSegmentSampler(DumpStore(dump), UnitStore(dump / "units"), length, weights)


def test_tables_that_do_not_fit_the_dump_are_refused(dump, tmp_path):
    other = tmp_path / "train"
    shutil.copytree(dump, other)
    store = DumpStore(other)
    short = [(u, np.zeros(3, dtype=np.int64)) for u in store.utts]
    write_unit_store(other / "units", short, HOP, 8000, K, {"name": "made-up"})
    with pytest.raises(WavegenError, match="frames of units"):
        PlanSegmentSampler(store, UnitStore(other / "units"), 2)
