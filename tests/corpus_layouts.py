"""Tiny stand-ins of GTZAN and MagnaTagATune in their exact on-disk layouts.

They hold the real file names, folder structure, annotation format and known broken files of
the corpora, with short noise clips as audio: enough to run the recipes' preparation stages
offline (tests, trying a recipe, timing the data stages) without the real data.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from wavegen.data.mtat import FOLDER_SETS, N_TAG_COLUMNS, standard_tags
from wavegen.data.toy import GTZAN_GENRES

GTZAN_RATE = 22050
MTAT_RATE = 16000
MTAT_EMPTY_CLIPS = (35644, 55753, 57881)  # empty mp3s of the real corpus


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return (0.1 * rng.standard_normal(n)).astype(np.float32)


def make_gtzan_tree(
    root: str | os.PathLike[str], layout: str = "original", ext: str = "au",
    clips_per_genre: int = 100, duration: float = 0.01, broken: tuple[str, ...] = (),
    seed: int = 0,
) -> Path:
    """Write ``<genre>.000NN.<ext>`` files for the 10 genres.

    Args:
        root: corpus root.
        layout: ``original`` (``root/genres/<genre>/``) or ``kaggle``
            (``root/Data/genres_original/<genre>/``).
        ext: ``au`` or ``wav``.
        clips_per_genre: clips 0 .. n-1 of each genre (GTZAN has 100).
        duration: seconds per clip (mono, 22050 Hz, 16 bit as in GTZAN).
        broken: utterance ids (``jazz.00054``) written as non-audio bytes instead.
        seed: noise seed.

    Returns:
        The genre folder's parent.
    """
    genre_root = Path(root) / ("genres" if layout == "original" else "Data/genres_original")
    rng = np.random.default_rng(seed)
    n = max(1, int(round(duration * GTZAN_RATE)))
    for genre in GTZAN_GENRES:
        (genre_root / genre).mkdir(parents=True, exist_ok=True)
        for k in range(clips_per_genre):
            path = genre_root / genre / f"{genre}.{k:05d}.{ext}"
            if path.stem in broken:
                path.write_bytes(b"this is not a RIFF file\n")
            else:
                sf.write(str(path), _noise(rng, n), GTZAN_RATE, subtype="PCM_16",
                         format=ext.upper())
    return genre_root


def mtat_columns() -> list[str]:
    """188 tag columns: the 50 commonly used tags, then filler tags ``extra_001`` ..."""
    top = standard_tags()
    return top + [f"extra_{k:03d}" for k in range(1, N_TAG_COLUMNS - len(top) + 1)]


def make_mtat_tree(
    root: str | os.PathLike[str], clips_per_folder: int = 2, duration: float = 0.2,
    under_mp3: bool = False, seed: int = 0,
) -> dict[str, list[str]]:
    """Write ``annotations_final.csv``, ``clip_info_final.csv`` and mp3 folders ``0``-``f``.

    Each folder gets ``clips_per_folder`` clips tagged with four of the commonly used top-50
    tags (so that the training folders' top 50 are exactly those), plus per set one clip with
    only filler tags and one with no tag (both dropped by preparation), and the three empty
    mp3s of the real corpus (ids 35644, 55753, 57881), tagged, in folders ``3``, ``c`` and
    ``e``. Needs libsndfile with MP3 support.

    Args:
        root: corpus root.
        clips_per_folder: tagged, readable clips per folder.
        duration: seconds per clip (mono, 16 kHz as in MagnaTagATune).
        under_mp3: put the folders under ``root/mp3/`` (the layout after download).
        seed: noise seed.

    Returns:
        Set name -> sorted utterance ids that preparation keeps, and ``"bad"`` -> the mp3
        paths (relative to the annotations) of the empty clips.
    """
    root = Path(root)
    audio_root = root / "mp3" if under_mp3 else root
    columns = mtat_columns()
    top, extra = columns[:50], columns[50:]
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, str, set[str]]] = []
    expected: dict[str, list[str]] = {"train": [], "valid": [], "test": [], "bad": []}
    i = 0
    for folder in "0123456789abcdef":
        for k in range(clips_per_folder):
            clip_id = 2 + 100 * int(folder, 16) + k
            tags = {top[(3 * i + j) % len(top)] for j in range(4)}
            rows.append((clip_id, f"{folder}/artist_{i:03d}-album-{k + 1:02d}-song-0-29.mp3",
                         tags))
            expected[FOLDER_SETS[folder]].append(f"{clip_id:06d}")
            i += 1
    for folder, offset in (("5", 90), ("c", 90), ("f", 90)):
        clip_id = 100 * int(folder, 16) + offset
        rows.append((clip_id, f"{folder}/untagged-album-01-intro-0-29.mp3", set()))
        rows.append((clip_id + 1, f"{folder}/filler-album-01-noise-0-29.mp3", {extra[0]}))
    for folder, clip_id in zip("3ce", MTAT_EMPTY_CLIPS, strict=True):
        rows.append((clip_id, f"{folder}/broken-album-01-empty-30-59.mp3", {top[0], top[7]}))
        expected["bad"].append(f"{folder}/broken-album-01-empty-30-59.mp3")
    n = max(1, int(round(duration * MTAT_RATE)))
    for clip_id, rel, _ in rows:
        path = audio_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if clip_id in MTAT_EMPTY_CLIPS:
            path.write_bytes(b"")
        else:
            sf.write(str(path), _noise(rng, n), MTAT_RATE, format="MP3")
    rows.sort()
    with open(root / "annotations_final.csv", "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, delimiter="\t", quotechar='"', quoting=csv.QUOTE_ALL,
                         lineterminator="\n")
        out.writerow(["clip_id", *columns, "mp3_path"])
        for clip_id, rel, tags in rows:
            out.writerow([clip_id, *(int(c in tags) for c in columns), rel])
    with open(root / "clip_info_final.csv", "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\n")
        out.writerow(["clip_id", "track_number", "title", "artist", "album", "url",
                      "segmentStart", "segmentEnd", "original_url", "mp3_path"])
        for clip_id, rel, _ in rows:
            out.writerow([clip_id, 1, "song", "artist", "album", "", 0, 29, "", rel])
    return {name: sorted(utts) for name, utts in expected.items()}


__all__ = ["MTAT_EMPTY_CLIPS", "make_gtzan_tree", "make_mtat_tree", "mtat_columns"]
