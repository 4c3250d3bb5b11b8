"""GTZAN-layout corpora -> Kaldi data dirs.

Accepts ``<root>/genres/<genre>/<genre>.000NN.{wav,au}`` (original), the Kaggle layout
``<root>/Data/genres_original/<genre>/...``, or ``root`` being the genre-folder parent itself.
Unreadable files are skipped with a warning each and their paths listed in
``data/<set>/bad_files`` (see :mod:`wavegen.data.check`); so are the ids of clips of the split
missing from the corpus. Entries that belong to no set because they cannot be used at all
(symlink loops, a line break in the path, a duplicate id) are listed with the reason in
``data/bad_files``; a name with whitespace gets a safe utterance id instead.

Two splits: ``filtered``, the artist-filtered split of Kereliuk et al. (2015) as published
with torchaudio (443 / 197 / 290 clips; the other 70 clips are in no set), shipped as
``wavegen/data/splits/gtzan_filtered_<set>.txt``; and ``random``, stratified by genre, for
corpora in GTZAN's layout that are not GTZAN (such as the toy corpus).
"""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path

import numpy as np

from wavegen.data.check import check_data_dir
from wavegen.data.kaldi import write_prepared_set, write_vocab
from wavegen.errors import WavegenError
from wavegen.outputs import write_text

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".au")
SETS = ("train", "valid", "test")
SPLITS = ("filtered", "random")


def _subdirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder``, skipping entries that cannot be examined (symlink loops)."""
    out = []
    for p in folder.iterdir():
        try:
            if p.is_dir():
                out.append(p)
        except OSError:
            pass
    return out


def find_genre_root(root: str | os.PathLike[str]) -> Path:
    """Locate the folder whose subfolders are genres."""
    root = Path(root)
    for cand in (root / "genres", root / "Data" / "genres_original", root / "genres_original",
                 root):
        if cand.is_dir() and any(
            p.suffix in AUDIO_EXTENSIONS for d in _subdirs(cand) for p in d.iterdir()
        ):
            return cand
    raise WavegenError(
        f"no GTZAN-layout corpus under {root}: expected genres/<genre>/<genre>.000NN.wav (or .au)"
    )


def _safe_id(name: str) -> str:
    """An utterance id or label without whitespace or control characters (Kaldi tables are
    whitespace-separated lines): each such character becomes ``_``."""
    return "".join("_" if c.isspace() or not c.isprintable() else c for c in name)


def scan_corpus(root: str | os.PathLike[str]
                ) -> tuple[dict[str, tuple[str, Path]], list[tuple[str, str]]]:
    """Every audio file of the corpus, and the entries that cannot be used.

    Returns:
        ``(found, skipped)``: utterance id -> (genre, path) with ids like ``rock.00012``, and
        ``(path, reason)`` for each skipped entry. A name with spaces or other whitespace gets
        a safe id (each such character becomes ``_``); a path a data dir cannot hold (a
        newline in it), a symlink loop or a dangling link, a non-file, and a second file
        with the same id are skipped.
    """
    genre_root = find_genre_root(root)
    found: dict[str, tuple[str, Path]] = {}
    skipped: list[tuple[str, str]] = []
    for genre_dir in sorted(_subdirs(genre_root)):
        genre = _safe_id(genre_dir.name)
        for path in sorted(genre_dir.iterdir()):
            if path.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            try:
                real = path.resolve(strict=True)
                if not real.is_file():
                    raise OSError("not a regular file")
            except (OSError, RuntimeError) as err:
                reason = getattr(err, "strerror", None) or str(err)
                skipped.append((str(path), f"cannot be read: {reason}"))
                continue
            if any(c in str(real) for c in "\n\r"):
                skipped.append((str(path), "its path holds a line break, which a data dir "
                                           "(one line per clip) cannot store"))
                continue
            utt = _safe_id(path.stem)
            if not genre or not utt:
                skipped.append((str(path), "no usable name"))
            elif utt in found:
                skipped.append((str(path), f"a second clip with the id {utt} "
                                           f"(first: {found[utt][1]})"))
            else:
                found[utt] = (genre, real)
    for name, reason in skipped:
        log.warning("skipping %r: %s", name, reason)
    return found, skipped


def random_split(
    utt2genre: dict[str, str], seed: int, valid_frac: float, test_frac: float
) -> dict[str, list[str]]:
    """Stratified by genre: each genre's clips shuffled and cut into train/valid/test."""
    rng = np.random.default_rng(seed)
    split: dict[str, list[str]] = {s: [] for s in SETS}
    for genre in sorted(set(utt2genre.values())):
        utts = sorted(u for u, g in utt2genre.items() if g == genre)
        utts = [utts[i] for i in rng.permutation(len(utts))]
        n_valid = max(1, round(valid_frac * len(utts))) if len(utts) >= 3 else 0
        n_test = max(1, round(test_frac * len(utts))) if len(utts) >= 3 else 0
        split["valid"] += utts[:n_valid]
        split["test"] += utts[n_valid:n_valid + n_test]
        split["train"] += utts[n_valid + n_test:]
    return split


def filtered_split() -> dict[str, list[str]]:
    """The artist-filtered split: set name -> utterance ids such as ``blues.00029``."""
    folder = resources.files("wavegen.data").joinpath("splits")
    return {name: folder.joinpath(f"gtzan_filtered_{name}.txt").read_text("utf-8").split()
            for name in SETS}


def prepare_gtzan(
    corpus: str | os.PathLike[str], out: str | os.PathLike[str], split: str = "filtered",
    seed: int = 0, valid_frac: float = 0.1, test_frac: float = 0.1, check: bool = True,
    channels: int = 1,
) -> dict[str, int]:
    """Write ``out/{train,valid,test}`` data dirs and ``genres.txt``.

    Args:
        corpus: corpus root in one of the layouts above.
        out: folder for the data dirs.
        split: ``filtered`` (clips of the corpus in no list are ignored; listed clips missing
            from the corpus are skipped with a warning and their ids written to ``bad_files``)
            or ``random`` (every clip; ``seed``, ``valid_frac`` and ``test_frac`` apply).
        seed: seed of the random split.
        valid_frac: fraction of each genre's clips for valid (random split).
        test_frac: fraction of each genre's clips for test (random split).
        check: decode every file here (:func:`~wavegen.data.check.check_data_dir`); False
            only lists the clips, for parallel checking of split data dirs afterwards.
        channels: required channel count of the audio (0: any).

    Returns:
        Number of utterances per set (listed ones when ``check`` is False).
    """
    if split not in SPLITS:
        raise WavegenError(f"unknown split '{split}'; supported: {', '.join(SPLITS)}")
    found, skipped = scan_corpus(corpus)
    genres = sorted({g for g, _ in found.values()})
    if split == "random":
        parts = random_split({u: g for u, (g, _) in found.items()}, seed, valid_frac, test_frac)
    else:
        parts = filtered_split()
        unlisted = len(found.keys() - {u for utts in parts.values() for u in utts})
        if unlisted:
            log.info("ignoring %d clips that are in no set of the filtered split", unlisted)
    out = Path(out)
    counts = {}
    for name, utts in parts.items():
        missing = [u for u in utts if u not in found]
        if missing:
            log.warning("%d clips of the %s set are missing from the corpus: %s%s", len(missing),
                        name, ", ".join(missing[:5]), ", ..." if len(missing) > 5 else "")
        present = [u for u in utts if u in found]
        hint = "; for a corpus other than GTZAN use --split random" if split == "filtered" else ""
        if not present:
            raise WavegenError(f"set '{name}' has no readable clips; is the corpus complete?{hint}")
        d = out / name
        write_prepared_set(d, {u: str(found[u][1]) for u in present}, "utt2genre",
                           {u: found[u][0] for u in present}, "genres.txt", genres, missing)
        counts[name] = check_data_dir(d, channels) if check else len(present)
        if not counts[name]:
            raise WavegenError(f"set '{name}' has no readable clips; is the corpus complete?{hint}")
    write_vocab(out / "genres.txt", genres)
    # Entries that are in no set: one line each, the path escaped as a Python literal.
    write_text(out / "bad_files", "".join(f"{ascii(p)} {why}\n" for p, why in skipped))
    return counts


__all__ = ["filtered_split", "prepare_gtzan", "random_split", "scan_corpus"]
