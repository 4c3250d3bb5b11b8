"""Unit tables beside a dump and plans of single clips, from a fitted tokenizer."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from unit_sizes import RATE, K

from wavegen.audio import read_audio, resample
from wavegen.data.dump import DumpStore
from wavegen.errors import WavegenError
from wavegen.units.extract import clip_plan, extract_units
from wavegen.units.plan import read_plan
from wavegen.units.store import UnitStore, write_unit_store
from wavegen.units.tokenizer import Tokenizer, dump_audio, fit_tokenizer


def copy_set(dumps: Path, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(dumps / name, tmp_path / name))


def test_extract_writes_aligned_tables_equal_to_encode(dumps: Path, tokenizer_file: Path,
                                                       tokenizer: Tokenizer,
                                                       tmp_path: Path) -> None:
    valid = copy_set(dumps, "valid", tmp_path)
    total = extract_units(valid, tokenizer_file)
    store, units = DumpStore(valid), UnitStore(valid / "units")
    assert (units.hop, units.sample_rate, units.n_units) == (160, RATE, K)
    assert units.tokenizer == tokenizer.identity()
    assert sorted(units.index) == store.utts
    frames = 0
    for utt in store.utts:
        audio = dump_audio(store.audio(utt))
        assert np.array_equal(units.units(utt), tokenizer.encode(audio))
        frames += math.ceil(audio.size / 160)
    assert total == frames
    units.check_aligned({u: store.index[u][1] for u in store.utts}, RATE)
    # Extracting again replaces the table with the same one.
    before = (valid / "units" / "units.int16").read_bytes()
    extract_units(valid, tokenizer_file, hop=160)
    assert (valid / "units" / "units.int16").read_bytes() == before


def test_a_hop_that_does_not_divide_the_clips(dumps: Path, tmp_path: Path) -> None:
    """1 s clips at 8 kHz with a hop of 150: 54 frames each, the last one partial."""
    tok_path = tmp_path / "tok150.pt"
    fit_tokenizer(dumps / "train", n_units=K, hop=150, features=("onset", "mel")).save(tok_path)
    valid = copy_set(dumps, "valid", tmp_path)
    extract_units(valid, tok_path)
    units = UnitStore(valid / "units")
    store = DumpStore(valid)
    for utt in store.utts:
        assert units.units(utt).size == math.ceil(store.index[utt][1] / 150) == 54
    assert units.tokenizer["features"] == ["onset", "mel"]


@pytest.mark.parametrize("channels,rate,subtype", [(2, 22050, "PCM_16"), (1, 8000, "FLOAT"),
                                                   (3, 16000, "PCM_24")])
def test_clip_plan_downmixes_and_resamples(tokenizer_file: Path, tokenizer: Tokenizer,
                                           tmp_path: Path, channels: int, rate: int,
                                           subtype: str) -> None:
    n = int(1.3 * rate)
    t = np.arange(n) / rate
    audio = np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)], 1)
    wav = tmp_path / "in.wav"
    sf.write(wav, audio, rate, subtype=subtype)
    plan = clip_plan(wav, tokenizer_file, tmp_path / "plan.json")
    mono, sr = read_audio(wav)
    want = tokenizer.encode(resample(mono, sr, RATE))
    assert np.array_equal(plan.units, want)
    assert plan.n_frames == math.ceil(round(n * RATE / rate) / 160)
    back = read_plan(tmp_path / "plan.json")
    assert np.array_equal(back.units, want) and back.tokenizer == tokenizer.identity()
    assert (back.sample_rate, back.hop, back.n_units) == (RATE, 160, K)


def test_a_table_that_does_not_fit_its_audio(dumps: Path, tokenizer: Tokenizer,
                                             tmp_path: Path) -> None:
    store = DumpStore(dumps / "valid")
    lengths = {u: store.index[u][1] for u in store.utts}
    tables = [(u, np.zeros(math.ceil(n / 160) - (u == store.utts[2]), np.int64))
              for u, n in lengths.items()]
    write_unit_store(tmp_path / "units", tables, 160, RATE, K, tokenizer.identity())
    with pytest.raises(WavegenError, match=f"{store.utts[2]} has 49 frames of units but its "
                                           "audio .8000 samples, hop 160. needs 50"):
        UnitStore(tmp_path / "units").check_aligned(lengths, RATE)
    with pytest.raises(WavegenError, match="extracted at 8000 Hz, the audio is at 16000 Hz"):
        UnitStore(tmp_path / "units").check_aligned(lengths, 16000)
    with pytest.raises(WavegenError, match=r"ids must be in \[0, 64\), got 0..64"):
        write_unit_store(tmp_path / "bad", [("a", np.array([0, 64]))], 160, RATE, K,
                         tokenizer.identity())
    with pytest.raises(WavegenError, match="no complete unit table"):
        UnitStore(tmp_path / "bad")  # the failed write left no meta.json
