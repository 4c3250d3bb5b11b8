"""GTZAN's artist-filtered split: the shipped lists, and preparing full-size trees with it."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavegen.data.gtzan import SETS, filtered_split, prepare_gtzan
from wavegen.data.kaldi import read_table, validate_data_dir
from wavegen.data.toy import GTZAN_GENRES
from wavegen.errors import WavegenError

EXPECTED_COUNTS = {"train": 443, "valid": 197, "test": 290}


def full_tree(genre_root: Path, ext: str) -> None:
    """All 10 x 100 GTZAN clips as ``genre_root/<genre>/<genre>.000NN.<ext>``, 100 samples each."""
    samples = 0.1 * np.random.default_rng(0).standard_normal(100)
    for genre in GTZAN_GENRES:
        (genre_root / genre).mkdir(parents=True)
        for k in range(100):
            sf.write(str(genre_root / genre / f"{genre}.{k:05d}.{ext}"), samples, 22050,
                     subtype="PCM_16", format=ext.upper())


def prepared_utts(out: Path) -> dict[str, set[str]]:
    return {s: set(read_table(out / s / "wav.scp")) for s in SETS}


def test_shipped_lists_have_the_published_sizes_and_are_disjoint() -> None:
    split = filtered_split()
    assert {s: len(split[s]) for s in SETS} == EXPECTED_COUNTS
    assert {s: len(set(split[s])) for s in SETS} == EXPECTED_COUNTS
    assert set(split["train"]).isdisjoint(split["valid"])
    assert set(split["train"]).isdisjoint(split["test"])
    assert set(split["valid"]).isdisjoint(split["test"])
    pattern = re.compile(r"(?P<genre>[a-z]+)\.000(?P<k>\d\d)")
    genres = set()
    for utt in sum(split.values(), []):
        match = pattern.fullmatch(utt)
        assert match, utt
        genres.add(match["genre"])
    assert sorted(genres) == list(GTZAN_GENRES)


def test_shipped_lists_equal_torchaudio() -> None:
    gtzan = pytest.importorskip("torchaudio.datasets.gtzan")
    split = filtered_split()
    assert split["train"] == list(gtzan.filtered_train)
    assert split["valid"] == list(gtzan.filtered_valid)
    assert split["test"] == list(gtzan.filtered_test)


@pytest.fixture(scope="module")
def original_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gtzan")
    full_tree(root / "genres", "au")
    return root


@pytest.fixture(scope="module")
def kaggle_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kaggle")
    full_tree(root / "Data" / "genres_original", "wav")
    (root / "Data" / "genres_original" / "jazz" / "jazz.00054.wav").write_bytes(b"not audio")
    return root


def test_default_split_of_the_original_layout(original_tree: Path, tmp_path: Path) -> None:
    counts = prepare_gtzan(original_tree, tmp_path)
    assert counts == EXPECTED_COUNTS
    split = filtered_split()
    utts = prepared_utts(tmp_path)
    for s in SETS:
        assert utts[s] == set(split[s])
        assert (tmp_path / s / "bad_files").read_text() == ""
        validate_data_dir(tmp_path / s)
        for utt, wav in read_table(tmp_path / s / "wav.scp").items():
            assert Path(wav).parts[-3:] == ("genres", utt.split(".")[0], f"{utt}.au")
        for utt, genre in read_table(tmp_path / s / "utt2genre").items():
            assert utt.split(".")[0] == genre


def test_kaggle_layout_skips_the_unreadable_clip(kaggle_tree: Path, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wavegen"):
        counts = prepare_gtzan(kaggle_tree, tmp_path)
    # jazz.00054 is in the train list.
    assert counts == {**EXPECTED_COUNTS, "train": EXPECTED_COUNTS["train"] - 1}
    utts = prepared_utts(tmp_path)
    assert utts["train"] == set(filtered_split()["train"]) - {"jazz.00054"}
    bad = kaggle_tree / "Data" / "genres_original" / "jazz" / "jazz.00054.wav"
    assert (tmp_path / "train" / "bad_files").read_text() == f"{bad.resolve()}\n"
    assert (tmp_path / "valid" / "bad_files").read_text() == ""
    assert any("jazz.00054.wav" in r.getMessage() for r in caplog.records)


def test_listed_clips_missing_from_the_corpus_go_to_bad_files(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    genre_root = tmp_path / "db" / "genres"
    full_tree(genre_root, "au")
    (genre_root / "blues" / "blues.00000.au").unlink()  # in the valid list
    (genre_root / "rock" / "rock.00099.au").unlink()
    with caplog.at_level(logging.WARNING, logger="wavegen"):
        counts = prepare_gtzan(tmp_path / "db", tmp_path / "data")
    lists = filtered_split()
    lost = {s: {"blues.00000", "rock.00099"} & set(lists[s]) for s in SETS}
    assert counts == {s: EXPECTED_COUNTS[s] - len(lost[s]) for s in SETS}
    for s in SETS:
        bad = (tmp_path / "data" / s / "bad_files").read_text().split()
        assert set(bad) == lost[s]
    assert any("missing from the corpus" in r.getMessage() and "blues.00000" in r.getMessage()
               for r in caplog.records)


def test_toy_sized_corpus_with_the_filtered_split_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "genres" / "blues").mkdir(parents=True)
    sf.write(str(tmp_path / "genres" / "blues" / "blues.00000.wav"), np.zeros(100), 22050)
    with pytest.raises(WavegenError, match="set 'train' has no readable clips.*--split random"):
        prepare_gtzan(tmp_path, tmp_path / "data")
