"""Training segments with unit tables: frame-aligned starts, plan windows with margins,
reproducibility, and tables that do not fit the dump."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from wavegen.audio import mu_law_encode, silence_code
from wavegen.data.dump import DumpStore, dump_data_dir
from wavegen.data.segments import SegmentSampler
from wavegen.errors import WavegenError
from wavegen.units.store import UnitStore, n_frames_for, write_unit_store

HOP = 160
TOKENIZER = {"name": "test-frames", "hash": "0"}


@pytest.fixture(scope="module")
def dump(prepared: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> DumpStore:
    out = tmp_path_factory.mktemp("segments") / "train"
    dump_data_dir(prepared[0] / "train", out, 8000)
    return DumpStore(out)


def frame_ids(store: DumpStore, hop: int = HOP) -> dict[str, np.ndarray]:
    """Units that name their own utterance and frame: ``100 * utt_index + frame``."""
    return {u: 100 * i + np.arange(n_frames_for(store.index[u][1], hop))
            for i, u in enumerate(store.utts)}


@pytest.fixture(scope="module")
def units(dump: DumpStore) -> UnitStore:
    ids = frame_ids(dump)
    write_unit_store(dump.path / "units", ids.items(), HOP, 8000, 100 * len(ids), TOKENIZER)
    return UnitStore(dump.path / "units")


def check_rows(store: DumpStore, codes: torch.Tensor, units: torch.Tensor, offset: int,
               length: int) -> set[int]:
    """Every row is ``audio[k * hop - 1 : k * hop + T]`` of the utterance its units name
    (silence before sample 0), and its window is frames ``k - offset ..`` (-1 outside the
    utterance). Returns the k seen."""
    seen = set()
    for row in range(codes.shape[0]):
        i = int(torch.nonzero(units[row] >= 0)[0])
        utt = store.utts[int(units[row, i]) // 100]
        k = int(units[row, i]) % 100 - i + offset  # the frame of the first target
        seen.add(k)
        n = store.index[utt][1]
        frames = np.arange(k - offset, k - offset + units.shape[1])
        inside = (frames >= 0) & (frames < n_frames_for(n, HOP))
        want = np.where(inside, 100 * store.utts.index(utt) + frames, -1)
        assert np.array_equal(units[row].numpy(), want), row
        audio = np.zeros(length + 1, dtype=np.float32)  # samples k*hop - 1 .. k*hop + T - 1
        lo, hi = max(k * HOP - 1, 0), min(k * HOP + length, n)
        audio[lo - (k * HOP - 1):hi - (k * HOP - 1)] = store.audio(utt)[lo:hi] / 32768.0
        assert torch.equal(codes[row], mu_law_encode(torch.from_numpy(audio))), row
        # The model's rule: position t (input codes[t]) predicts codes[t + 1], sample
        # k * hop + t, and reads window frame offset + t // hop: that sample's frame.
        t = np.arange(length)
        read = units[row, offset + t // HOP].numpy()
        assert np.all((read == -1) | (read % 100 == (k * HOP + t) // HOP)), row
    return seen


def test_segments_start_one_sample_before_a_frame(dump: DumpStore, units: UnitStore) -> None:
    length, margin = 500, 2  # 500 positions: 4 frames, the last one partial
    sampler = SegmentSampler(dump, length, units=units, margin=margin)
    codes, cond, plan, offset = sampler.batch(256, torch.Generator().manual_seed(0))
    assert codes.shape == (256, length + 1) and cond.shape == (256, len(dump.vocab))
    assert plan.shape == (256, 4 + 2 * margin) and plan.dtype == torch.long
    assert offset == margin
    seen = check_rows(dump, codes, plan, offset, length)
    assert 0 in seen and len(seen) > 20  # the start of an utterance, and spread frames
    first = codes[[r for r in range(256) if plan[r, margin] % 100 == 0], 0]
    assert len(first) and torch.all(first == silence_code())  # k = 0: silence first
    assert (plan[:, :margin] == -1).any()  # the margin before an utterance's first frame


def test_segments_longer_than_an_utterance_start_frames_early(dump: DumpStore,
                                                              units: UnitStore) -> None:
    longest = max(dump.index[u][1] for u in dump.utts)
    length = longest + 3 * HOP + 7
    sampler = SegmentSampler(dump, length, units=units, margin=1)
    codes, _, plan, offset = sampler.batch(8, torch.Generator().manual_seed(1))
    seen = check_rows(dump, codes, plan, offset, length)
    assert all(k < 0 for k in seen)
    assert torch.all(codes[:, :3 * HOP] == silence_code())


def test_batches_with_units_are_reproducible(dump: DumpStore, units: UnitStore) -> None:
    sampler = SegmentSampler(dump, 300, units=units, margin=3)
    gen = torch.Generator().manual_seed(7)
    state = gen.get_state()
    first = [sampler.batch(4, gen) for _ in range(3)]
    resumed = torch.Generator()
    resumed.set_state(state)
    for a, b in zip(first, [sampler.batch(4, resumed) for _ in range(3)], strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a[:3], b[:3], strict=True))
        assert a[3] == b[3] == 3
    assert not torch.equal(first[0][2], first[1][2])


def test_without_units_the_batch_is_unchanged(dump: DumpStore, units: UnitStore) -> None:
    """A store without tables draws the same utterances and labels from the same stream,
    and returns the (codes, cond) pair as before."""
    plain = SegmentSampler(dump, 300).batch(6, torch.Generator().manual_seed(2))
    local = SegmentSampler(dump, 300, units=units).batch(6, torch.Generator().manual_seed(2))
    assert len(plain) == 2 and len(local) == 4
    assert torch.equal(plain[1], local[1])


def test_tables_that_do_not_fit_the_dump_are_refused(dump: DumpStore,
                                                     tmp_path: Path) -> None:
    ids = frame_ids(dump)
    short = {**ids, dump.utts[0]: ids[dump.utts[0]][:-1]}
    write_unit_store(tmp_path / "short", short.items(), HOP, 8000, 100 * len(ids), TOKENIZER)
    with pytest.raises(WavegenError, match=f"{dump.utts[0]} has .* frames of units but its "
                                           "audio .* needs"):
        SegmentSampler(dump, 300, units=UnitStore(tmp_path / "short"))
    missing = list(ids.items())[1:]
    write_unit_store(tmp_path / "missing", missing, HOP, 8000, 100 * len(ids), TOKENIZER)
    with pytest.raises(WavegenError, match=f"has no units for utterance {dump.utts[0]}"):
        SegmentSampler(dump, 300, units=UnitStore(tmp_path / "missing"))
    write_unit_store(tmp_path / "rate", ids.items(), HOP, 16000, 100 * len(ids), TOKENIZER)
    with pytest.raises(WavegenError, match="extracted at 16000 Hz, the audio is at 8000 Hz"):
        SegmentSampler(dump, 300, units=UnitStore(tmp_path / "rate"))


def test_a_negative_margin_is_refused(dump: DumpStore, units: UnitStore) -> None:
    with pytest.raises(WavegenError, match="margin must be >= 0 frames, got -1"):
        SegmentSampler(dump, 300, units=units, margin=-1)
