"""GTZAN-layout corpora -> Kaldi data dirs: split, labels, layouts, and bad input."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavegen.audio import read_audio
from wavegen.data.gtzan import SETS, prepare_gtzan, random_split
from wavegen.data.kaldi import read_table, read_vocab, validate_data_dir
from wavegen.data.toy import GTZAN_GENRES
from wavegen.errors import WavegenError

TOY_UTTS = {f"{g}.{k:05d}" for g in GTZAN_GENRES for k in range(3)}


def set_utts(out: Path) -> dict[str, set[str]]:
    return {s: set(read_table(out / s / "wav.scp")) for s in SETS}


def tiny_tree(genre_root: Path, genres: tuple[str, ...], clips: int, ext: str = "wav") -> None:
    """``genre_root/<genre>/<genre>.0000k.<ext>``, 0.1 s of quiet noise at 22050 Hz."""
    rng = np.random.default_rng(0)
    for genre in genres:
        (genre_root / genre).mkdir(parents=True, exist_ok=True)
        for k in range(clips):
            sf.write(str(genre_root / genre / f"{genre}.{k:05d}.{ext}"),
                     0.1 * rng.standard_normal(2205), 22050, subtype="PCM_16",
                     format="AU" if ext == "au" else "WAV")


def test_sets_are_disjoint_and_cover_every_clip(prepared: tuple[Path, dict]) -> None:
    out, counts = prepared
    utts = set_utts(out)
    assert utts["train"].isdisjoint(utts["valid"])
    assert utts["train"].isdisjoint(utts["test"])
    assert utts["valid"].isdisjoint(utts["test"])
    assert utts["train"] | utts["valid"] | utts["test"] == TOY_UTTS
    assert counts == {s: len(utts[s]) for s in SETS} == {"train": 10, "valid": 10, "test": 10}


@pytest.mark.parametrize("name", SETS)
def test_every_genre_is_in_every_set(prepared: tuple[Path, dict], name: str) -> None:
    out, _ = prepared
    assert sorted(set(read_table(out / name / "utt2genre").values())) == list(GTZAN_GENRES)


@pytest.mark.parametrize("name", SETS)
def test_data_dir_is_valid_and_labels_match_files(prepared: tuple[Path, dict], name: str) -> None:
    out, _ = prepared
    d = out / name
    assert validate_data_dir(d) == sorted(read_table(d / "wav.scp"))
    wav_scp, utt2genre = read_table(d / "wav.scp"), read_table(d / "utt2genre")
    for utt, wav in wav_scp.items():
        path = Path(wav)
        assert path.is_absolute() and path.is_file()
        assert path.stem == utt and path.parent.name == utt2genre[utt] == utt.split(".")[0]
    for dur in read_table(d / "utt2dur").values():
        assert float(dur) == pytest.approx(1.0, abs=1e-3)
    assert read_vocab(d / "genres.txt") == list(GTZAN_GENRES)
    assert (d / "bad_files").read_text() == ""


def test_top_level_genres_txt(prepared: tuple[Path, dict]) -> None:
    out, _ = prepared
    assert (out / "genres.txt").read_text() == "".join(f"{g}\n" for g in GTZAN_GENRES)


def test_split_is_deterministic_for_a_seed(toy_corpus: Path, prepared: tuple[Path, dict],
                                           tmp_path: Path) -> None:
    out, _ = prepared
    prepare_gtzan(toy_corpus, tmp_path / "same", split="random", seed=0)
    prepare_gtzan(toy_corpus, tmp_path / "other", split="random", seed=1)
    for name in SETS:
        for f in ("wav.scp", "utt2genre", "utt2dur", "spk2utt"):
            assert (tmp_path / "same" / name / f).read_bytes() == (out / name / f).read_bytes()
    assert set_utts(tmp_path / "other") != set_utts(out)


def test_genre_folder_itself_is_accepted(toy_corpus: Path, tmp_path: Path) -> None:
    counts = prepare_gtzan(toy_corpus / "genres", tmp_path, split="random", seed=0)
    assert sum(counts.values()) == len(TOY_UTTS)


def test_random_split_proportions() -> None:
    utt2genre = {f"{g}.{k:05d}": g for g in ("a", "b") for k in range(20)}
    split = random_split(utt2genre, seed=3, valid_frac=0.1, test_frac=0.2)
    assert [len(split[s]) for s in SETS] == [28, 4, 8]
    assert sorted(sum(split.values(), [])) == sorted(utt2genre)
    # Fewer than 3 clips: everything goes to train.
    small = random_split({"x.1": "x", "x.2": "x"}, 0, 0.1, 0.1)
    assert small["valid"] == small["test"] == [] and sorted(small["train"]) == ["x.1", "x.2"]


def test_kaggle_layout_with_corrupt_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    genre_root = tmp_path / "kaggle" / "Data" / "genres_original"
    tiny_tree(genre_root, ("blues", "jazz", "rock"), clips=3)
    bad = genre_root / "jazz" / "jazz.00054.wav"
    bad.write_bytes(b"not audio")
    with caplog.at_level(logging.WARNING, logger="wavegen"):
        counts = prepare_gtzan(tmp_path / "kaggle", tmp_path / "data", split="random", seed=0)
    assert sum(counts.values()) == 9
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "jazz.00054.wav" in warnings[0].getMessage()
    listed = [line for s in SETS
              for line in (tmp_path / "data" / s / "bad_files").read_text().splitlines()]
    assert listed == [str(bad.resolve())]
    utts = set_utts(tmp_path / "data")
    assert "jazz.00054" not in utts["train"] | utts["valid"] | utts["test"]
    assert len(utts["train"] | utts["valid"] | utts["test"]) == 9
    for s in SETS:
        validate_data_dir(tmp_path / "data" / s)


def test_au_files(tmp_path: Path) -> None:
    tiny_tree(tmp_path / "corpus" / "genres", ("classical", "metal"), clips=3, ext="au")
    counts = prepare_gtzan(tmp_path / "corpus", tmp_path / "data", split="random", seed=0)
    assert counts == {"train": 2, "valid": 2, "test": 2}
    for s in SETS:
        validate_data_dir(tmp_path / "data" / s)
        for wav in read_table(tmp_path / "data" / s / "wav.scp").values():
            assert wav.endswith(".au")
            samples, sr = read_audio(wav)
            assert (sr, samples.shape) == (22050, (2205,))
        for dur in read_table(tmp_path / "data" / s / "utt2dur").values():
            assert dur == "0.100"
    assert read_vocab(tmp_path / "data" / "genres.txt") == ["classical", "metal"]


def test_empty_corpus(tmp_path: Path) -> None:
    (tmp_path / "genres" / "rock").mkdir(parents=True)
    (tmp_path / "genres" / "rock" / "README.txt").write_text("no audio here")
    with pytest.raises(WavegenError, match=r"no GTZAN-layout corpus under .*genres/<genre>/"):
        prepare_gtzan(tmp_path, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_nonexistent_corpus(tmp_path: Path) -> None:
    with pytest.raises(WavegenError) as err:
        prepare_gtzan(tmp_path / "missing", tmp_path / "data")
    assert str(tmp_path / "missing") in str(err.value)


def test_unknown_split(toy_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match="unknown split 'artist'; supported: filtered, random"):
        prepare_gtzan(toy_corpus, tmp_path, split="artist")


def test_odd_entries_do_not_stop_the_corpus(tmp_path: Path) -> None:
    """Odd names get safe ids; entries no data dir can hold are skipped and listed with the
    reason in data/bad_files; the rest of the corpus is prepared."""
    root = tmp_path / "genres"
    tiny_tree(root, ("blues", "rock"), clips=4)
    clip = root / "rock" / "rock.00000.wav"
    odd_ok = {  # name -> the utterance id it gets
        "my song.wav": "my_song", "tab\there.wav": "tab_here", "café.00001.wav": "café.00001",
        "ロック.wav": "ロック", "UPPER.WAV": "UPPER",
    }
    for name in odd_ok:
        (root / "rock" / name).write_bytes(clip.read_bytes())
    (root / "rock" / "line\nbreak.wav").write_bytes(clip.read_bytes())
    (root / "rock" / "loop.wav").symlink_to(root / "rock" / "loop.wav")
    (root / "rock" / "dangling.wav").symlink_to(tmp_path / "nowhere.wav")
    (root / "rock" / "folder.wav").mkdir()
    os.mkfifo(root / "rock" / "fifo.wav")
    sf.write(str(root / "rock" / "rock.00001.au"), read_audio(clip)[0], 22050,
             format="AU")  # the same id as rock.00001.wav: sorted first, so it is kept
    (root / "hip hop").mkdir()  # a genre folder with a space
    (root / "hip hop" / "hh.00000.wav").write_bytes(clip.read_bytes())
    (root / "loop").symlink_to(root / "loop")  # a folder-level symlink loop
    out = tmp_path / "data"
    counts = prepare_gtzan(tmp_path, out, split="random", seed=0)
    listed = set().union(*set_utts(out).values())
    assert set(odd_ok.values()) <= listed and "hh.00000" in listed
    assert sum(counts.values()) == 8 + len(odd_ok) + 1
    assert read_vocab(out / "genres.txt") == ["blues", "hip_hop", "rock"]
    bad = (out / "bad_files").read_text().splitlines()
    reasons = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in bad}
    assert len(bad) == 6, bad
    assert "line break" in reasons[ascii(str(root / "rock" / "line\nbreak.wav"))]
    for name in ("loop.wav", "dangling.wav"):
        assert "cannot be read" in reasons[ascii(str(root / "rock" / name))]
    for name in ("folder.wav", "fifo.wav"):
        assert "not a regular file" in reasons[ascii(str(root / "rock" / name))]
    assert "second clip with the id rock.00001" in reasons[ascii(str(root / "rock" /
                                                                     "rock.00001.wav"))]
    for s in SETS:
        validate_data_dir(out / s)
