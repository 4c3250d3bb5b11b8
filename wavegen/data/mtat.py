"""MagnaTagATune -> Kaldi data dirs with multi-hot tag conditioning.

The corpus root holds ``annotations_final.csv`` (tab-separated, fields quoted with ``"``:
``clip_id``, 188 tag columns of 0/1, ``mp3_path``) and the mp3 files, either directly
(``<root>/<0-f>/<name>.mp3``, the layout of the unzipped archive) or under ``<root>/mp3/``.

The standard split is by folder: train ``0``-``b``, valid ``c``, test ``d``-``f``. Only the
``n_tags`` most frequent tags of the training folders are kept (or the tags of a given list)
and clips with none of them are dropped. Utterance ids are the clip ids, zero-padded to six
digits so that C order is numeric order. ``utt2tags`` holds each clip's kept tags,
comma-separated in vocabulary order, and ``tags.txt`` the vocabulary: the conditioning vector
is multi-hot over it. Unreadable mp3s are skipped and listed in ``bad_files``.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from wavegen.data.check import check_data_dir
from wavegen.data.kaldi import read_vocab, write_prepared_set, write_vocab
from wavegen.errors import WavegenError

log = logging.getLogger(__name__)

ANNOTATIONS = "annotations_final.csv"
N_TAG_COLUMNS = 188
FOLDER_SETS = {**{f: "train" for f in "0123456789ab"}, "c": "valid",
               **{f: "test" for f in "def"}}
SETS = ("train", "valid", "test")


@dataclass(frozen=True)
class Clip:
    """One row of the annotations: its id, the tags set to 1 and the mp3 path."""

    clip_id: int
    tags: frozenset[str]
    mp3_path: str

    @property
    def utt(self) -> str:
        return f"{self.clip_id:06d}"

    @property
    def set_name(self) -> str | None:
        return FOLDER_SETS.get(self.mp3_path.split("/", 1)[0])


def read_annotations(path: str | os.PathLike[str]) -> tuple[list[str], list[Clip]]:
    """Parse ``annotations_final.csv``.

    Returns:
        ``(tag names in column order, clips)``; rows with an empty ``mp3_path`` are left out.

    Raises:
        WavegenError: the header or a row does not have the expected shape.
    """
    path = Path(path)
    if not path.is_file():
        raise WavegenError(f"missing {path}; is this a MagnaTagATune corpus root?")
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quotechar='"')
        try:
            return _parse_annotations(path, reader)
        except UnicodeDecodeError as err:
            raise WavegenError(f"{path}: not UTF-8 text (it holds the byte "
                               f"{err.object[err.start:err.start + 1]!r}); is it the published "
                               "annotations file?") from err
        except csv.Error as err:  # a field longer than csv's limit, a stray NUL, ...
            raise WavegenError(f"{path}:{reader.line_num}: malformed: {err}") from err


def _parse_annotations(path: Path, rows) -> tuple[list[str], list[Clip]]:
    header: list[str] = next(rows, [])
    if len(header) < 3 or header[0] != "clip_id" or header[-1] != "mp3_path":
        raise WavegenError(f"{path}: expected a tab-separated header 'clip_id', tags..., "
                           f"'mp3_path', got {header[:3]}...")
    tags = header[1:-1]
    for k, tag in enumerate(tags, 2):
        # utt2tags joins tags with commas and Kaldi tables split on whitespace at the key.
        if not tag.strip() or "," in tag or tag != tag.strip() or not tag.isprintable():
            raise WavegenError(f"{path}: tag column {k} is named {tag!r}; tag names must be "
                               "non-empty, printable, without commas or surrounding spaces")
    seen: dict[str, int] = {}
    for k, tag in enumerate(tags, 2):
        if tag in seen:
            raise WavegenError(f"{path}: tag {tag!r} names columns {seen[tag]} and {k}")
        seen[tag] = k
    if len(tags) != N_TAG_COLUMNS:
        log.warning("%s has %d tag columns; the published file has %d", path, len(tags),
                    N_TAG_COLUMNS)
    clips: list[Clip] = []
    first_line: dict[int, int] = {}
    for lineno, row in enumerate(rows, 2):
        if not row:
            continue
        if len(row) != len(header):
            raise WavegenError(f"{path}:{lineno}: {len(row)} fields, expected {len(header)}")
        try:
            clip_id = int(row[0])
        except ValueError as err:
            raise WavegenError(f"{path}:{lineno}: clip id {row[0][:40]!r} is not a number"
                               ) from err
        bad = next((v for v in row[1:-1] if v not in ("0", "1")), None)
        if bad is not None:
            raise WavegenError(f"{path}:{lineno}: tag value {bad[:40]!r}; expected 0 or 1")
        if clip_id < 0 or clip_id in first_line:
            raise WavegenError(f"{path}:{lineno}: clip id {clip_id} "
                               + (f"already on line {first_line[clip_id]}" if clip_id >= 0
                                  else "is negative"))
        first_line[clip_id] = lineno
        mp3 = row[-1].strip()
        if any(c in mp3 for c in "\n\r") or ".." in Path(mp3).parts or mp3.startswith("/"):
            raise WavegenError(f"{path}:{lineno}: mp3_path {mp3[:80]!r} is not a path under "
                               "the corpus root")
        if mp3:
            clips.append(Clip(clip_id, frozenset(t for t, v in zip(tags, row[1:-1], strict=True)
                                                 if v == "1"), mp3))
    return tags, clips


def top_tags(clips: Sequence[Clip], columns: Sequence[str], n: int) -> list[str]:
    """The ``n`` tags most frequent among the training folders' clips, most frequent first.

    Ties keep the column order; tags that never occur in training are not kept.
    """
    counts = {t: 0 for t in columns}
    for clip in clips:
        if clip.set_name == "train":
            for t in clip.tags:
                counts[t] += 1
    ranked = sorted((t for t in columns if counts[t]), key=lambda t: -counts[t])
    if len(ranked) < n:
        log.warning("only %d tags occur in the training folders; keeping all of them", len(ranked))
    return ranked[:n]


def standard_tags() -> list[str]:
    """The commonly used top-50 list (shipped as ``wavegen/data/splits/mtat_top50.txt``)."""
    text = resources.files("wavegen.data").joinpath("splits", "mtat_top50.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def find_audio_root(root: Path, clips: Sequence[Clip]) -> Path:
    """``root`` or ``root/mp3``: whichever holds the first clips' folders."""
    probe = [c.mp3_path for c in clips[:20]]
    for cand in (root, root / "mp3"):
        if any((cand / p).is_file() for p in probe):
            return cand
    return root


def prepare_mtat(
    corpus: str | os.PathLike[str], out: str | os.PathLike[str], n_tags: int = 50,
    tag_list: str | os.PathLike[str] | None = None, check: bool = True, channels: int = 1,
) -> dict[str, int]:
    """Write ``out/{train,valid,test}`` data dirs with ``utt2tags`` and ``tags.txt``.

    Args:
        corpus: corpus root (see the module doc).
        out: folder for the data dirs.
        n_tags: how many of the most frequent training tags to keep.
        tag_list: a file with one tag per line to keep instead, or ``standard`` for the
            commonly used top-50 list.
        check: decode every file here; False only lists the clips, for parallel checking of
            split data dirs afterwards (see :mod:`wavegen.data.split`).
        channels: required channel count of the audio (0: any).

    Returns:
        Number of utterances per set (listed ones when ``check`` is False).

    Raises:
        WavegenError: bad annotations, a tag of the list missing from them, or an empty set.
    """
    root = Path(corpus)
    columns, clips = read_annotations(root / ANNOTATIONS)
    if tag_list is None:
        vocab = top_tags(clips, columns, n_tags)
    else:
        vocab = standard_tags() if str(tag_list) == "standard" else read_vocab(tag_list)
        unknown = [t for t in vocab if t not in columns]
        if unknown:
            raise WavegenError(f"tags {', '.join(repr(t) for t in unknown)} of {tag_list} are "
                               f"not columns of {ANNOTATIONS}")
    if not vocab:
        raise WavegenError(f"no tags to keep: no clip of the training folders has a tag in "
                           f"{root / ANNOTATIONS}")
    audio_root = find_audio_root(root, clips)
    out = Path(out)
    counts = {}
    for name in SETS:
        members = [c for c in clips if c.set_name == name]
        kept = [c for c in members if c.tags & set(vocab)]
        log.info("%s: %d clips in its folders, %d with a kept tag", name, len(members), len(kept))
        if not kept:
            raise WavegenError(f"set '{name}' has no clips with a kept tag; is the corpus "
                               "complete?")
        d = out / name
        write_prepared_set(d, {c.utt: str((audio_root / c.mp3_path).resolve()) for c in kept},
                           "utt2tags", {c.utt: ",".join(t for t in vocab if t in c.tags)
                                        for c in kept}, "tags.txt", vocab, [])
        counts[name] = check_data_dir(d, channels) if check else len(kept)
        if not counts[name]:
            raise WavegenError(f"set '{name}' has no readable clips; is the corpus complete?")
    write_vocab(out / "tags.txt", vocab)
    return counts


__all__ = ["Clip", "prepare_mtat", "read_annotations", "standard_tags", "top_tags"]
