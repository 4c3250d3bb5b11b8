"""Splitting data dirs for parallel jobs and merging data dirs and dumps back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from corpus_layouts import make_gtzan_tree

from wavegen.data.check import check_data_dir
from wavegen.data.dump import DumpStore, dump_data_dir
from wavegen.data.gtzan import prepare_gtzan
from wavegen.data.kaldi import read_table, validate_data_dir
from wavegen.data.split import merge_data_dir, merge_dumps, split_data_dir, split_dir
from wavegen.errors import WavegenError

BROKEN = ("jazz.00001", "rock.00004")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gtzan")
    make_gtzan_tree(root, layout="kaggle", ext="wav", clips_per_genre=6, duration=0.05,
                    broken=BROKEN)
    return root


def test_split_parts_are_contiguous_sorted_and_complete(corpus: Path, tmp_path: Path) -> None:
    prepare_gtzan(corpus, tmp_path, split="random", check=False)
    d = tmp_path / "train"
    utts = list(read_table(d / "wav.scp"))
    parts = split_data_dir(d, 3)
    assert parts == [split_dir(d, 3) / str(j) for j in (1, 2, 3)]
    got = [list(read_table(p / "wav.scp")) for p in parts]
    assert sum(got, []) == utts
    assert max(map(len, got)) - min(map(len, got)) <= 1
    for p, keys in zip(parts, got, strict=True):
        assert list(read_table(p / "utt2genre")) == keys
        assert read_table(p / "spk2utt") == {u: u for u in keys}
        assert (p / "genres.txt").read_bytes() == (d / "genres.txt").read_bytes()
    with pytest.raises(WavegenError, match="between 1 and that many jobs"):
        split_data_dir(d, len(utts) + 1)


def test_parallel_check_equals_checking_in_one_go(corpus: Path, tmp_path: Path) -> None:
    prepare_gtzan(corpus, tmp_path / "one", split="random")
    prepare_gtzan(corpus, tmp_path / "many", split="random", check=False)
    for name in ("train", "valid", "test"):
        d = tmp_path / "many" / name
        for part in split_data_dir(d, 2):
            check_data_dir(part)
        merge_data_dir(d, 2)
        assert not split_dir(d, 2).exists()
        validate_data_dir(d)
        for f in ("wav.scp", "utt2genre", "utt2dur", "utt2spk", "spk2utt", "bad_files"):
            assert (d / f).read_bytes() == (tmp_path / "one" / name / f).read_bytes(), f
    bad = sum(((tmp_path / "many" / s / "bad_files").read_text().split()
               for s in ("train", "valid", "test")), [])
    assert sorted(Path(b).stem for b in bad) == list(BROKEN)


def test_merge_needs_every_part(corpus: Path, tmp_path: Path) -> None:
    prepare_gtzan(corpus, tmp_path, split="random", check=False)
    split_data_dir(tmp_path / "train", 2)
    with pytest.raises(WavegenError, match="missing; split"):
        merge_data_dir(tmp_path / "train", 3)


def test_merged_dump_equals_a_single_dump(corpus: Path, tmp_path: Path) -> None:
    prepare_gtzan(corpus, tmp_path / "data", split="random")
    d = tmp_path / "data" / "train"
    dump_data_dir(d, tmp_path / "whole", 16000)
    parts = split_data_dir(d, 3)
    for j, part in enumerate(parts, 1):
        dump_data_dir(part, tmp_path / "parts" / str(j), 16000)
    total = merge_dumps([tmp_path / "parts" / str(j) for j in (1, 2, 3)], tmp_path / "merged")
    whole, merged = DumpStore(tmp_path / "whole"), DumpStore(tmp_path / "merged")
    assert total == whole.samples.size
    assert merged.index == whole.index and merged.labels == whole.labels
    assert merged.vocab == whole.vocab and merged.label_kind == whole.label_kind
    assert np.array_equal(merged.samples, whole.samples)
    assert not any((tmp_path / "parts").iterdir())


def test_merging_dumps_of_different_rates_is_refused(corpus: Path, tmp_path: Path) -> None:
    prepare_gtzan(corpus, tmp_path / "data", split="random")
    parts = split_data_dir(tmp_path / "data" / "train", 2)
    dump_data_dir(parts[0], tmp_path / "p1", 16000)
    dump_data_dir(parts[1], tmp_path / "p2", 8000)
    with pytest.raises(WavegenError, match="sample_rate 8000"):
        merge_dumps([tmp_path / "p1", tmp_path / "p2"], tmp_path / "merged")
    with pytest.raises(WavegenError, match="not a complete dump"):
        merge_dumps([tmp_path / "p1", tmp_path / "nothing"], tmp_path / "merged")
