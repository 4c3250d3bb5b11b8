"""The dump (resampled int16 store) and the training-segment sampler that reads it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from wavegen.audio import mu_law_encode, read_audio, resample, silence_code
from wavegen.data.dump import DumpStore, dump_data_dir
from wavegen.data.kaldi import read_table, write_data_dir, write_vocab
from wavegen.data.segments import SegmentSampler
from wavegen.errors import WavegenError

# utterance -> (genre, n_samples at 22050 Hz); odd lengths exercise the resampler's rounding.
UTTS = {"a.00000": ("blues", 2205), "b.00001": ("jazz", 3001), "c.00002": ("rock", 1234)}
VOCAB = ["blues", "jazz", "rock"]


def make_data_dir(root: Path, audio: dict[str, np.ndarray], sr: int,
                  labels: dict[str, dict[str, str]], vocab: tuple[str, list[str]]) -> Path:
    """Writes each utterance as a WAV and a data dir listing them. Returns the data dir."""
    (root / "wav").mkdir(parents=True)
    wav_scp = {}
    for utt, x in audio.items():
        wav_scp[utt] = str(root / "wav" / f"{utt}.wav")
        sf.write(wav_scp[utt], x, sr, subtype="PCM_16")
    data = root / "data"
    write_data_dir(data, wav_scp, {u: x.size / sr for u, x in audio.items()}, labels)
    write_vocab(data / vocab[0], vocab[1])
    return data


def tones(n: int, seed: int) -> np.ndarray:
    t = np.arange(n) / 22050
    f1, f2 = 220.0 * (seed + 1), 1000.0 + 300 * seed
    return (0.4 * np.sin(2 * np.pi * f1 * t) + 0.2 * np.sin(2 * np.pi * f2 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """(data dir at 22050 Hz, its dump at 16000 Hz, total samples returned by the dump)."""
    root = tmp_path_factory.mktemp("dump")
    audio = {u: tones(n, i) for i, (u, (_, n)) in enumerate(UTTS.items())}
    data = make_data_dir(root, audio, 22050, {"utt2genre": {u: g for u, (g, _) in UTTS.items()}},
                         ("genres.txt", VOCAB))
    total = dump_data_dir(data, root / "dump", 16000)
    return data, root / "dump", total


def test_resampled_lengths(dumped: tuple[Path, Path, int]) -> None:
    _, dump, total = dumped
    store = DumpStore(dump)
    assert store.sample_rate == 16000
    assert store.utts == sorted(UTTS)
    for utt, (_, n) in UTTS.items():
        assert abs(store.audio(utt).size - round(n * 16000 / 22050)) <= 1
    assert total == sum(store.audio(u).size for u in UTTS)


def test_index_offsets_are_contiguous(dumped: tuple[Path, Path, int]) -> None:
    _, dump, total = dumped
    spans = sorted(tuple(int(v) for v in s.split()) for s in read_table(dump / "index").values())
    assert spans[0][0] == 0
    for (off, n), (next_off, _) in zip(spans[:-1], spans[1:], strict=True):
        assert next_off == off + n
    assert spans[-1][0] + spans[-1][1] == total
    assert (dump / "samples.int16").stat().st_size == 2 * total
    meta = json.loads((dump / "meta.json").read_text())
    assert meta == {"sample_rate": 16000, "n_samples": total, "label_file": "utt2genre",
                    "vocab_file": "genres.txt"}


def test_audio_reads_back_the_resampled_input(dumped: tuple[Path, Path, int]) -> None:
    data, dump, _ = dumped
    store = DumpStore(dump)
    wav_scp = read_table(data / "wav.scp")
    for utt in UTTS:
        x, sr = read_audio(wav_scp[utt])
        expected = resample(x, sr, 16000)
        got = store.audio(utt).astype(np.float64) / 32767.0
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1.0 / 32767)
        assert np.abs(got).max() > 0.3  # not silence


def test_labels_and_vocab_are_copied(dumped: tuple[Path, Path, int]) -> None:
    data, dump, _ = dumped
    for name in ("utt2genre", "genres.txt"):
        assert (dump / name).read_bytes() == (data / name).read_bytes()
    store = DumpStore(dump)
    assert (store.label_kind, store.vocab) == ("utt2genre", VOCAB)
    for utt, (genre, _) in UTTS.items():
        vec = store.label_vector(utt)
        assert vec.dtype == np.float32
        np.testing.assert_array_equal(vec, np.eye(3, dtype=np.float32)[VOCAB.index(genre)])


def test_tags_are_multi_hot(tmp_path: Path) -> None:
    audio = {"t1": tones(500, 0), "t2": tones(700, 1)}
    tags = ["guitar", "piano", "slow"]
    data = make_data_dir(tmp_path, audio, 16000, {"utt2tags": {"t1": "guitar,slow", "t2": "piano"}},
                         ("tags.txt", tags))
    assert dump_data_dir(data, tmp_path / "dump", 16000) == 1200  # no resampling: exact
    store = DumpStore(tmp_path / "dump")
    assert store.label_kind == "utt2tags"
    np.testing.assert_array_equal(store.label_vector("t1"), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(store.label_vector("t2"), [0.0, 1.0, 0.0])


def test_incomplete_dump_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match="no meta.json"):
        DumpStore(tmp_path)


def test_data_dir_without_labels_is_rejected(dumped: tuple[Path, Path, int],
                                              tmp_path: Path) -> None:
    data, _, _ = dumped
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("wav.scp", "utt2spk", "spk2utt", "utt2dur"):
        (bare / name).write_bytes((data / name).read_bytes())
    with pytest.raises(WavegenError, match="neither utt2genre nor utt2tags"):
        dump_data_dir(bare, tmp_path / "dump", 16000)
    assert not (tmp_path / "dump" / "meta.json").exists()


# --------------------------------------------------------------------------- segments

# utterance -> (genre, constant level, n_samples)
LEVELS = {"x.long": ("blues", 0.5, 400), "y.mid": ("jazz", -0.5, 300),
          "z.short": ("rock", 0.25, 20)}


@pytest.fixture(scope="module")
def level_store(tmp_path_factory: pytest.TempPathFactory) -> DumpStore:
    """Each utterance is a constant level, so a segment's codes reveal which one was picked."""
    root = tmp_path_factory.mktemp("levels")
    audio = {u: np.full(n, v, dtype=np.float32) for u, (_, v, n) in LEVELS.items()}
    labels = {"utt2genre": {u: g for u, (g, _, _) in LEVELS.items()}}
    data = make_data_dir(root, audio, 16000, labels, ("genres.txt", VOCAB))
    dump_data_dir(data, root / "dump", 16000)
    return DumpStore(root / "dump")


def level_codes(store: DumpStore) -> dict[int, str]:
    """mu-law code of each utterance's level -> utterance."""
    return {int(mu_law_encode(torch.tensor(store.audio(u)[0] / 32768.0))): u for u in LEVELS}


def test_batch_shapes_and_labels(level_store: DumpStore) -> None:
    sampler = SegmentSampler(level_store, segment_length=50)
    codes, cond = sampler.batch(64, torch.Generator().manual_seed(0))
    assert codes.shape == (64, 51) and codes.dtype == torch.long
    assert int(codes.min()) >= 0 and int(codes.max()) < 256
    assert cond.shape == (64, 3) and cond.dtype == torch.float32
    by_code = level_codes(level_store)
    seen = set()
    for row in range(64):
        utt = by_code[int(codes[row, -1])]
        seen.add(utt)
        assert torch.equal(cond[row], torch.from_numpy(level_store.label_vector(utt)))
    assert {"x.long", "y.mid"} <= seen


def test_short_utterances_are_left_padded_with_silence(level_store: DumpStore) -> None:
    sampler = SegmentSampler(level_store, segment_length=50)
    codes, _ = sampler.batch(512, torch.Generator().manual_seed(1))
    by_code = level_codes(level_store)
    short_code = next(c for c, u in by_code.items() if u == "z.short")
    rows = codes[codes[:, -1] == short_code]
    assert len(rows) > 0, "the short utterance was never drawn; pick another seed"
    assert torch.all(rows[:, :31] == silence_code())
    assert torch.all(rows[:, 31:] == short_code)
    long_rows = codes[codes[:, -1] != short_code]
    assert torch.all(long_rows == long_rows[:, -1:])  # full-length segments need no padding


def test_batches_are_reproducible_from_generator_state(dumped: tuple[Path, Path, int]) -> None:
    sampler = SegmentSampler(DumpStore(dumped[1]), segment_length=200)
    gen = torch.Generator().manual_seed(7)
    state = gen.get_state()
    first = [sampler.batch(4, gen) for _ in range(3)]
    resumed = torch.Generator()
    resumed.set_state(state)
    again = [sampler.batch(4, resumed) for _ in range(3)]
    for (c1, k1), (c2, k2) in zip(first, again, strict=True):
        assert torch.equal(c1, c2) and torch.equal(k1, k2)
    assert not torch.equal(first[0][0], first[1][0])


def test_segments_are_slices_of_the_picked_utterance(dumped: tuple[Path, Path, int]) -> None:
    store = DumpStore(dumped[1])
    sampler = SegmentSampler(store, segment_length=100)
    codes, cond = sampler.batch(16, torch.Generator().manual_seed(3))
    starts = set()
    for row in range(16):
        utt = next(u for u, (g, _) in UTTS.items() if cond[row, VOCAB.index(g)] == 1.0)
        audio = torch.from_numpy(store.audio(utt).astype(np.float32) / 32768.0)
        windows = mu_law_encode(audio.unfold(0, 101, 1))  # (n - 100, 101)
        matches = torch.nonzero(torch.all(windows == codes[row], dim=1)).flatten().tolist()
        assert matches, f"row {row} is not a segment of {utt}"
        starts.add(matches[0])
    assert len(starts) > 8  # start positions are spread, not fixed


def test_label_weights_draw_a_genre_that_many_times_as_often(dumped: tuple[Path, Path, int]
                                                              ) -> None:
    """Clips are drawn in proportion to length x the weight of their genre; an unnamed
    genre keeps weight 1, and a genre the data lacks is an error."""
    store = DumpStore(dumped[1])
    lengths = np.array([store.index[u][1] for u in store.utts], dtype=np.float64)
    plain = SegmentSampler(store, segment_length=50)
    weighted = SegmentSampler(store, segment_length=50, label_weights={"rock": 3.0})
    rock = [i for i, u in enumerate(store.utts) if UTTS[u][0] == "rock"]
    want = lengths.copy()
    want[rock] *= 3.0
    assert torch.allclose(weighted.probs, torch.from_numpy(want / want.sum()))
    assert torch.allclose(plain.probs, torch.from_numpy(lengths / lengths.sum()))
    _, cond = weighted.batch(4000, torch.Generator().manual_seed(0))
    share = cond[:, VOCAB.index("rock")].mean().item()
    assert abs(share - float(want[rock].sum() / want.sum())) < 0.03
    with pytest.raises(WavegenError, match="names metal, not in the data's vocabulary"):
        SegmentSampler(store, segment_length=50, label_weights={"metal": 2.0})
