"""MagnaTagATune -> data dirs: annotations, folder split, top tags, tag lists and bad mp3s."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import soundfile as sf
from corpus_layouts import MTAT_EMPTY_CLIPS, make_mtat_tree, mtat_columns

from wavegen.data.kaldi import read_table, read_vocab, validate_data_dir
from wavegen.data.mtat import (
    SETS,
    prepare_mtat,
    read_annotations,
    standard_tags,
    top_tags,
)
from wavegen.errors import WavegenError

pytestmark = pytest.mark.skipif("MP3" not in sf.available_formats(),
                                reason="this libsndfile cannot write MP3, needed for the fixture")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("mtat")
    return root, make_mtat_tree(root, under_mp3=True)


@pytest.fixture(scope="module")
def prepared(tree: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("data")
    return out, prepare_mtat(tree[0], out)


def test_annotations_have_188_tag_columns(tree: tuple[Path, dict]) -> None:
    columns, clips = read_annotations(tree[0] / "annotations_final.csv")
    assert columns == mtat_columns() and len(columns) == 188
    assert {c.clip_id for c in clips} >= set(MTAT_EMPTY_CLIPS)
    assert all(c.mp3_path.endswith(".mp3") for c in clips)


def test_folder_split_sizes_and_names(tree: tuple[Path, dict],
                                      prepared: tuple[Path, dict]) -> None:
    (_, expected), (out, counts) = tree, prepared
    assert counts == {s: len(expected[s]) for s in SETS} == {"train": 24, "valid": 2, "test": 6}
    for s in SETS:
        assert validate_data_dir(out / s) == expected[s]
        for utt, wav in read_table(out / s / "wav.scp").items():
            folder = Path(wav).parent.name
            assert {"train": "0123456789ab", "valid": "c", "test": "def"}[s].count(folder) == 1
            assert int(utt) < 1600


def test_top_tags_of_the_training_folders_are_the_standard_50(
        prepared: tuple[Path, dict]) -> None:
    out, _ = prepared
    vocab = read_vocab(out / "tags.txt")
    assert sorted(vocab) == sorted(standard_tags()) and len(vocab) == 50
    for s in SETS:
        assert read_vocab(out / s / "tags.txt") == vocab
        for tags in read_table(out / s / "utt2tags").values():
            names = tags.split(",")
            assert names and names == [t for t in vocab if t in names]


def test_empty_mp3s_are_listed_and_skipped(tree: tuple[Path, dict],
                                           prepared: tuple[Path, dict]) -> None:
    (root, expected), (out, _) = tree, prepared
    bad = sum(((out / s / "bad_files").read_text().splitlines() for s in SETS), [])
    assert sorted(bad) == sorted(str(root / "mp3" / p) for p in expected["bad"])
    for s in SETS:
        assert not {f"{c:06d}" for c in MTAT_EMPTY_CLIPS} & set(read_table(out / s / "wav.scp"))


def test_ranking_and_given_lists(tree: tuple[Path, dict], tmp_path: Path) -> None:
    columns, clips = read_annotations(tree[0] / "annotations_final.csv")
    assert top_tags(clips, columns, 3) == ["rock", "guitar", "classical"]
    listed = tmp_path / "tags.txt"
    listed.write_text("loud\nno vocal\n")
    counts = prepare_mtat(tree[0], tmp_path / "data", tag_list=listed, check=False)
    assert read_vocab(tmp_path / "data" / "tags.txt") == ["loud", "no vocal"]
    assert sum(counts.values()) < 32
    prepare_mtat(tree[0], tmp_path / "std", tag_list="standard", check=False)
    assert read_vocab(tmp_path / "std" / "tags.txt") == standard_tags()
    listed.write_text("piano\nbanjo solo\n")
    with pytest.raises(WavegenError, match="'banjo solo' of .* are not columns"):
        prepare_mtat(tree[0], tmp_path / "bad", tag_list=listed)


def test_bad_annotations_say_what_is_wrong(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(WavegenError, match="missing .*annotations_final.csv"):
        prepare_mtat(tmp_path, tmp_path / "data")
    ann = tmp_path / "annotations_final.csv"
    ann.write_text("id,guitar,path\n")
    with pytest.raises(WavegenError, match="tab-separated header"):
        read_annotations(ann)
    ann.write_text('"clip_id"\t"guitar"\t"mp3_path"\n"2"\t"1"\n')
    with caplog.at_level(logging.WARNING, logger="wavegen"):
        with pytest.raises(WavegenError, match=":2: 2 fields, expected 3"):
            read_annotations(ann)
    assert "has 1 tag columns" in caplog.text


HEAD = '"clip_id"\t"guitar"\t"rock"\t"mp3_path"\n'
ROW = '"2"\t"1"\t"0"\t"0/a.mp3"\n'


@pytest.mark.parametrize("content,message", [
    (HEAD + ROW + '"2"\t"0"\t"1"\t"0/b.mp3"\n', ":3: clip id 2 already on line 2"),
    (HEAD + '"x"\t"1"\t"0"\t"0/a.mp3"\n', ":2: clip id 'x' is not a number"),
    (HEAD + '"-4"\t"1"\t"0"\t"0/a.mp3"\n', ":2: clip id -4 is negative"),
    (HEAD + '"2"\t"2"\t"0"\t"0/a.mp3"\n', ":2: tag value '2'; expected 0 or 1"),
    (HEAD + '"2"\t"yes"\t"0"\t"0/a.mp3"\n', "tag value 'yes'"),
    (HEAD + '"2"\t""\t"0"\t"0/a.mp3"\n', "tag value ''"),
    (HEAD + '"2"\t"1"\t"0"\t"../../etc/passwd"\n', "is not a path under the corpus root"),
    (HEAD + '"2"\t"1"\t"0"\t"/abs/a.mp3"\n', "is not a path under the corpus root"),
    (HEAD + '"2"\t"1"\t"0"\t"0/a\nb.mp3"\n', "is not a path under the corpus root"),
    ('"clip_id"\t"rock,pop"\t"mp3_path"\n' + '"2"\t"1"\t"0/a.mp3"\n', "column 2 is named"),
    ('"clip_id"\t""\t"mp3_path"\n' + '"2"\t"1"\t"0/a.mp3"\n', "column 2 is named ''"),
    ('"clip_id"\t" rock"\t"mp3_path"\n' + '"2"\t"1"\t"0/a.mp3"\n', "column 2 is named"),
    ('"clip_id"\t"ro\tck"\t"mp3_path"\n' + '"2"\t"1"\t"0/a.mp3"\n', "column 2 is named"),
    ('"clip_id"\t"rock"\t"rock"\t"mp3_path"\n' + ROW, "'rock' names columns 2 and 3"),
    (HEAD + '"2"\t"1"\t"' + "0" * 200_000 + '"\t"0/a.mp3"\n', ":2: malformed: field larger"),
    (HEAD.encode() + b'"2"\t"1"\t"0"\t"0/\xff\xfe.mp3"\n', "not UTF-8 text"),
    (HEAD + '"2"\t"1\x00"\t"0"\t"0/a.mp3"\n', "malformed|tag value"),
])
def test_hostile_annotations_are_clear_errors(tmp_path: Path, content, message) -> None:
    """Never a traceback, a silent mislabel or a silently dropped clip."""
    ann = tmp_path / "annotations_final.csv"
    if isinstance(content, bytes):
        ann.write_bytes(content)
    else:
        ann.write_text(content, encoding="utf-8")
    with pytest.raises(WavegenError, match=message):
        read_annotations(ann)
