"""Kaldi data directories: the contract between data preparation and training.

A data dir holds per-utterance tables, one ``<key> <value>`` line each, sorted in C-locale
(byte) order on the key, keys unique, newline-terminated:

- ``wav.scp``: utterance -> audio path (or a ``cmd |`` pipe, which wavegen does not run)
- ``utt2genre`` (GTZAN-style corpora) or ``utt2tags`` (comma-separated tags, MTAT)
- ``utt2dur``: duration in seconds (> 0)
- ``utt2spk`` / ``spk2utt``: with no speakers, each utterance is its own speaker
"""

from __future__ import annotations

import os
from pathlib import Path

from wavegen.errors import WavegenError
from wavegen.outputs import write_text

REQUIRED = ("wav.scp", "utt2spk", "spk2utt", "utt2dur")


def _c_sorted(keys):
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def write_table(path: str | os.PathLike[str], table: dict[str, str]) -> None:
    """Write ``key value`` lines sorted in C-locale order (atomically)."""
    path = Path(path)
    for key in table:
        if not key or any(c.isspace() for c in key):
            raise ValueError(f"bad key {key!r} for {path}: keys must be non-empty, no spaces")
    write_text(path, "".join(f"{key} {table[key]}\n" for key in _c_sorted(table)))


def read_table(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a ``key value`` table; the value is the rest of the line.

    Raises:
        WavegenError: missing file, duplicate key or a line with no value.
    """
    path = Path(path)
    if not path.is_file():
        raise WavegenError(f"missing file {path}; run the data preparation stage first")
    table: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            key, _, value = line.rstrip("\n").partition(" ")
            if not key or not value.strip():
                raise WavegenError(f"{path}:{lineno}: expected '<key> <value>', got {line!r}")
            if key in table:
                raise WavegenError(f"{path}:{lineno}: duplicate key '{key}'")
            table[key] = value.strip()
    return table


def write_data_dir(
    out: str | os.PathLike[str],
    wav_scp: dict[str, str],
    utt2dur: dict[str, float],
    labels: dict[str, dict[str, str]],
) -> None:
    """Write a complete data dir.

    Args:
        wav_scp: utterance -> path.
        utt2dur: utterance -> seconds.
        labels: extra per-utterance tables by file name, e.g. ``{"utt2genre": {...}}``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_table(out / "wav.scp", wav_scp)
    write_table(out / "utt2dur", {u: f"{d:.3f}" for u, d in utt2dur.items()})
    write_speakers(out, list(wav_scp))
    for name, table in labels.items():
        write_table(out / name, table)


def write_speakers(data_dir: Path, utts: list[str]) -> None:
    """``utt2spk``/``spk2utt`` for a corpus without speakers: each utterance is its own."""
    write_table(data_dir / "utt2spk", {u: u for u in utts})
    write_table(data_dir / "spk2utt", {u: u for u in utts})


def write_prepared_set(out: Path, wav_scp: dict[str, str], label_file: str,
                       labels: dict[str, str], vocab_file: str, vocab: list[str],
                       bad_files: list[str]) -> None:
    """One set (train, valid or test) of a prepared corpus: ``wav.scp``, the label table
    (``utt2genre`` or ``utt2tags``), ``utt2spk``/``spk2utt``, the vocabulary file and
    ``bad_files`` (one entry a line). A ``utt2dur`` of an earlier run is removed: the audio
    check that follows writes it for the clips that decode."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "utt2dur").unlink(missing_ok=True)
    write_table(out / "wav.scp", wav_scp)
    write_table(out / label_file, labels)
    write_speakers(out, list(wav_scp))
    write_vocab(out / vocab_file, vocab)
    (out / "bad_files").write_text("".join(f"{b}\n" for b in bad_files), encoding="utf-8")


def validate_data_dir(path: str | os.PathLike[str]) -> list[str]:
    """Check a data dir as Kaldi's ``validate_data_dir.sh --no-feats --no-text`` would.

    Returns:
        The sorted utterance ids.

    Raises:
        WavegenError: naming the file and the problem.
    """
    path = Path(path)
    for name in REQUIRED:
        if not (path / name).is_file():
            raise WavegenError(f"{path} is not a data dir: {name} is missing")
    utts = _checked_keys(path / "wav.scp")
    _checked_keys(path / "spk2utt")
    for f in sorted(f for f in path.iterdir() if f.name.startswith("utt2")):
        if _checked_keys(f) != utts:
            raise WavegenError(f"{f} and {path / 'wav.scp'} list different utterances")
    for utt, wav in read_table(path / "wav.scp").items():
        if wav.startswith("~"):
            raise WavegenError(f"{path}/wav.scp: path of '{utt}' starts with '~', which is not "
                               "expanded; write the full path")
    utt2spk = read_table(path / "utt2spk")
    spk2utt = read_table(path / "spk2utt")
    inverted: dict[str, list[str]] = {}
    for utt, spk in utt2spk.items():
        inverted.setdefault(spk, []).append(utt)
    if {s: " ".join(u) for s, u in inverted.items()} != spk2utt:
        raise WavegenError(f"{path}/spk2utt does not match utt2spk")
    for utt, dur in read_table(path / "utt2dur").items():
        try:
            positive = float(dur) > 0
        except ValueError:
            positive = False
        if not positive:
            raise WavegenError(f"{path}/utt2dur: duration of '{utt}' must be > 0, got {dur}")
    return utts


def _checked_keys(f: Path) -> list[str]:
    """The keys of table ``f``, checked as Kaldi does: non-empty, newline-terminated, sorted
    (LC_ALL=C) and unique."""
    text = f.read_text(encoding="utf-8")
    if not text:
        raise WavegenError(f"{f} is empty; the data dir has no utterances")
    if not text.endswith("\n"):
        raise WavegenError(f"{f} does not end with a newline")
    keys = [line.split(" ", 1)[0] for line in text.splitlines()]
    if keys != _c_sorted(set(keys)):
        raise WavegenError(f"{f} is not sorted (LC_ALL=C) or has duplicate keys")
    return keys


def read_vocab(path: str | os.PathLike[str]) -> list[str]:
    """One label per line (``genres.txt`` or ``tags.txt``)."""
    path = Path(path)
    if not path.is_file():
        raise WavegenError(f"missing vocabulary {path}; run the data preparation stage first")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_vocab(path: str | os.PathLike[str], vocab: list[str]) -> None:
    Path(path).write_text("".join(f"{v}\n" for v in vocab), encoding="utf-8")
