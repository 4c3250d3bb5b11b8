"""Kaldi data-dir tables: C-locale order, strict reading, and validate_data_dir's rules."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from wavegen.data.kaldi import (
    read_table,
    read_vocab,
    validate_data_dir,
    write_data_dir,
    write_table,
    write_vocab,
)
from wavegen.errors import WavegenError

# Byte order puts digits < uppercase < '_' < lowercase < non-ASCII and '.' < '_'; a locale-aware
# sort (en_US.UTF-8) would interleave the cases and ignore the punctuation.
KEYS = ["b", "a_b", "Z", "\u00e9t\u00e9", "a", "9", "a.b", "B", "10", "a.b-x"]


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_write_table_sorts_keys_in_c_locale_byte_order(tmp_path: Path) -> None:
    write_table(tmp_path / "t", {k: f"v-{k}" for k in KEYS})
    keys = [line.split(" ", 1)[0] for line in lines(tmp_path / "t")]
    assert keys == ["10", "9", "B", "Z", "a", "a.b", "a.b-x", "a_b", "b", "\u00e9t\u00e9"]
    assert (tmp_path / "t").read_bytes().endswith(b"\n")
    assert read_table(tmp_path / "t") == {k: f"v-{k}" for k in KEYS}


@pytest.mark.skipif(shutil.which("sort") is None, reason="needs coreutils sort")
def test_write_table_order_matches_lc_all_c_sort(tmp_path: Path) -> None:
    write_table(tmp_path / "t", {k: "x" for k in KEYS})
    env = {**os.environ, "LC_ALL": "C"}
    ref = subprocess.run(["sort", "-k1,1", str(tmp_path / "t")], env=env, capture_output=True,
                         check=True).stdout
    assert (tmp_path / "t").read_bytes() == ref


@pytest.mark.parametrize("key", ["", "a b", "a\tb"])
def test_write_table_rejects_bad_keys_and_leaves_nothing(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="bad key"):
        write_table(tmp_path / "wav.scp", {"ok": "1", key: "2"})
    assert list(tmp_path.iterdir()) == []


def test_read_table_keeps_the_rest_of_the_line_as_value(tmp_path: Path) -> None:
    (tmp_path / "wav.scp").write_text("u1 sox /x y.au -t wav - |\nu2 /a.wav\n", encoding="utf-8")
    assert read_table(tmp_path / "wav.scp") == {"u1": "sox /x y.au -t wav - |", "u2": "/a.wav"}


def test_read_table_duplicate_key(tmp_path: Path) -> None:
    path = tmp_path / "utt2genre"
    path.write_text("a rock\nb jazz\na pop\n", encoding="utf-8")
    with pytest.raises(WavegenError, match=r"utt2genre:3: duplicate key 'a'"):
        read_table(path)


@pytest.mark.parametrize("text", ["a rock\nb\n", "a rock\nb \n", "a rock\n\n"])
def test_read_table_line_without_value(tmp_path: Path, text: str) -> None:
    path = tmp_path / "utt2genre"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WavegenError, match=r"utt2genre:2: expected '<key> <value>'"):
        read_table(path)


def test_read_table_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "wav.scp"
    with pytest.raises(WavegenError) as err:
        read_table(path)
    assert str(path) in str(err.value)


def test_vocab_round_trip_and_missing(tmp_path: Path) -> None:
    write_vocab(tmp_path / "genres.txt", ["blues", "jazz"])
    assert (tmp_path / "genres.txt").read_text() == "blues\njazz\n"
    assert read_vocab(tmp_path / "genres.txt") == ["blues", "jazz"]
    with pytest.raises(WavegenError, match="tags.txt"):
        read_vocab(tmp_path / "tags.txt")


# --------------------------------------------------------------------------- data dirs

UTTS = ["rock.00001", "jazz.00000", "Rock.00000", "blues.00002"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    out = tmp_path / "train"
    write_data_dir(
        out,
        wav_scp={u: f"/corpus/{u}.wav" for u in UTTS},
        utt2dur={u: 1.5 + i for i, u in enumerate(UTTS)},
        labels={"utt2genre": {u: u.split(".")[0].lower() for u in UTTS}},
    )
    return out


def test_write_data_dir_writes_a_valid_dir(data_dir: Path) -> None:
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "spk2utt", "utt2dur", "utt2genre", "utt2spk", "wav.scp"]
    expected = ["Rock.00000", "blues.00002", "jazz.00000", "rock.00001"]
    assert validate_data_dir(data_dir) == expected
    assert read_table(data_dir / "utt2spk") == {u: u for u in UTTS}
    assert read_table(data_dir / "spk2utt") == {u: u for u in UTTS}
    assert read_table(data_dir / "utt2dur")["jazz.00000"] == "2.500"
    assert lines(data_dir / "utt2genre")[0] == "Rock.00000 rock"


def rewrite(path: Path, edit: Callable[[list[str]], list[str]]) -> None:
    path.write_text("".join(f"{line}\n" for line in edit(lines(path))), encoding="utf-8")


def drop_last(ls: list[str]) -> list[str]:
    return ls[:-1]


def add_utt(ls: list[str]) -> list[str]:
    return ls + ["zzz /corpus/zzz.wav"]


def set_dur(value: str) -> Callable[[list[str]], list[str]]:
    return lambda ls: [f"{ls[0].split()[0]} {value}", *ls[1:]]


CORRUPTIONS = {
    "unsorted utt2genre": ("utt2genre", lambda ls: ls[::-1], r"utt2genre is not sorted"),
    "unsorted wav.scp": ("wav.scp", lambda ls: [ls[1], ls[0], *ls[2:]], r"wav.scp is not sorted"),
    "duplicate key": ("utt2genre", lambda ls: [ls[0], *ls], r"utt2genre is not sorted"),
    "utt2genre lacks an utterance": ("utt2genre", drop_last, r"utt2genre and .*wav.scp"),
    "wav.scp has an extra utterance": ("wav.scp", add_utt, r"list different utterances"),
    "spk2utt inconsistent": ("spk2utt", lambda ls: [f"{ls[0]} extra", *ls[1:]],
                             r"spk2utt does not match utt2spk"),
    "zero duration": ("utt2dur", set_dur("0.000"), r"duration of 'Rock.00000' must be > 0"),
    "negative duration": ("utt2dur", set_dur("-1.5"), r"must be > 0"),
    "nan duration": ("utt2dur", set_dur("nan"), r"must be > 0"),
    "non-numeric duration": ("utt2dur", set_dur("long"), r"utt2dur"),
    "utt2spk with 3 fields": ("utt2spk", lambda ls: [f"{ls[0]} x", *ls[1:]], r"utt2spk"),
    "tilde path in wav.scp": ("wav.scp", lambda ls: [f"{ls[0].split()[0]} ~/a.wav", *ls[1:]],
                              r"~"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_validate_data_dir_rejects(data_dir: Path, case: str) -> None:
    name, edit, message = CORRUPTIONS[case]
    rewrite(data_dir / name, edit)
    with pytest.raises(WavegenError, match=message):
        validate_data_dir(data_dir)


def test_validate_names_the_file_whose_utterances_differ(data_dir: Path) -> None:
    rewrite(data_dir / "wav.scp", add_utt)
    with pytest.raises(WavegenError) as err:
        validate_data_dir(data_dir)
    # The message must not blame wav.scp against itself.
    assert str(err.value).count("wav.scp") == 1


@pytest.mark.parametrize("name", ["wav.scp", "utt2spk", "spk2utt", "utt2dur"])
def test_validate_missing_required_file(data_dir: Path, name: str) -> None:
    (data_dir / name).unlink()
    with pytest.raises(WavegenError, match=f"{name} is missing"):
        validate_data_dir(data_dir)


def test_validate_missing_trailing_newline(data_dir: Path) -> None:
    path = data_dir / "utt2genre"
    path.write_text(path.read_text().rstrip("\n"), encoding="utf-8")
    with pytest.raises(WavegenError, match="newline"):
        validate_data_dir(data_dir)


def test_validate_empty_data_dir(tmp_path: Path) -> None:
    write_data_dir(tmp_path, {}, {}, {"utt2genre": {}})
    with pytest.raises(WavegenError, match="empty"):
        validate_data_dir(tmp_path)
