"""Splitting a data dir into parts for parallel jobs, and merging the parts back.

``split_data_dir(d, n)`` writes ``d/split<n>/<1..n>/``: each part holds a contiguous run of
the C-sorted utterances with every per-utterance table (``wav.scp``, ``utt2*``) cut to it, its
own ``utt2spk``/``spk2utt`` and copies of the vocabulary files. Jobs then work on the parts
(``wavegen check-audio``, ``wavegen dump``) and :func:`merge_data_dir` / :func:`merge_dumps`
put the results back together in C-sorted order.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from wavegen.data.check import append_bad_files, table_files
from wavegen.data.kaldi import read_table, validate_data_dir, write_speakers, write_table
from wavegen.errors import WavegenError

log = logging.getLogger(__name__)

VOCAB_FILES = ("genres.txt", "tags.txt")


def split_dir(data_dir: str | os.PathLike[str], nj: int) -> Path:
    """Where :func:`split_data_dir` puts the parts: ``data_dir/split<nj>``."""
    return Path(data_dir) / f"split{nj}"


def split_data_dir(data_dir: str | os.PathLike[str], nj: int) -> list[Path]:
    """Cut ``data_dir`` into ``nj`` parts of nearly equal utterance counts.

    Returns:
        The part folders ``data_dir/split<nj>/1`` .. ``nj``.

    Raises:
        WavegenError: ``nj`` is not between 1 and the number of utterances, or ``data_dir``
            has no ``wav.scp``.
    """
    data_dir = Path(data_dir)
    utts = list(read_table(data_dir / "wav.scp"))
    if not 1 <= nj <= len(utts):
        raise WavegenError(f"cannot split the {len(utts)} utterances of {data_dir} into {nj} "
                           "parts; use between 1 and that many jobs")
    tables = {f.name: read_table(f) for f in table_files(data_dir)}
    root = split_dir(data_dir, nj)
    if root.exists():
        shutil.rmtree(root)
    parts = []
    for j in range(nj):
        chunk = utts[j * len(utts) // nj:(j + 1) * len(utts) // nj]
        part = root / str(j + 1)
        part.mkdir(parents=True)
        for name, table in tables.items():
            write_table(part / name, {u: table[u] for u in chunk if u in table})
        write_speakers(part, chunk)
        for name in VOCAB_FILES:
            if (data_dir / name).is_file():
                shutil.copyfile(data_dir / name, part / name)
        parts.append(part)
    log.info("split %s (%d utterances) into %d parts in %s", data_dir, len(utts), nj, root)
    return parts


def merge_data_dir(data_dir: str | os.PathLike[str], nj: int) -> int:
    """Replace the tables of ``data_dir`` by the union of its ``split<nj>`` parts.

    ``bad_files`` becomes the old one (clips found missing while listing) followed by the parts'
    lists. The merged dir is validated and the split folder removed.

    Returns:
        The number of utterances.

    Raises:
        WavegenError: a part is missing, or no utterance is left.
    """
    data_dir = Path(data_dir)
    root = split_dir(data_dir, nj)
    parts = [root / str(j + 1) for j in range(nj)]
    for part in parts:
        if not (part / "wav.scp").is_file():
            raise WavegenError(f"{part} is missing; split {data_dir} and run the jobs first")
    merged: dict[str, dict[str, str]] = {}
    bad: list[str] = []
    for part in parts:
        for f in table_files(part):
            merged.setdefault(f.name, {}).update(read_table(f))
        if (part / "bad_files").is_file():
            bad += (part / "bad_files").read_text(encoding="utf-8").splitlines()
    utts = list(merged["wav.scp"])
    if not utts:
        raise WavegenError(f"{data_dir} has no readable clips left (see {root}/*/bad_files); "
                           "is the corpus complete?")
    for f in table_files(data_dir):
        if f.name not in merged:
            f.unlink()
    for name, table in merged.items():
        write_table(data_dir / name, table)
    write_speakers(data_dir, utts)
    append_bad_files(data_dir, bad)
    validate_data_dir(data_dir)
    shutil.rmtree(root)
    log.info("merged %d parts into %s: %d utterances, %d bad files", nj, data_dir, len(utts),
             len(bad))
    return len(utts)


def merge_dumps(parts: list[str | os.PathLike[str]], out: str | os.PathLike[str]) -> int:
    """Concatenate complete dumps (of consecutive parts of one data dir) into ``out``.

    Each part's samples are moved into ``out/samples.int16`` and the part is removed once
    copied, so the disk holds little more than one copy of the audio at any time.

    Returns:
        Total number of samples.

    Raises:
        WavegenError: a part is incomplete, or the parts differ in rate, labels or vocabulary.
    """
    parts_p = [Path(p) for p in parts]
    metas = []
    for part in parts_p:
        meta_path = part / "meta.json"
        if not meta_path.is_file():
            raise WavegenError(f"{part} is not a complete dump (no meta.json); run its job again")
        metas.append(json.loads(meta_path.read_text(encoding="utf-8")))
    first = metas[0]
    for part, meta in zip(parts_p, metas, strict=True):
        for key in ("sample_rate", "label_file", "vocab_file"):
            if meta[key] != first[key]:
                raise WavegenError(f"{part} has {key} {meta[key]}, {parts_p[0]} has "
                                   f"{first[key]}; dump every part with the same settings")
        if (part / meta["vocab_file"]).read_bytes() != (
                parts_p[0] / first["vocab_file"]).read_bytes():
            raise WavegenError(f"{part} and {parts_p[0]} have different vocabularies")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)
    index: dict[str, str] = {}
    labels: dict[str, str] = {}
    shutil.copyfile(parts_p[0] / first["vocab_file"], out / first["vocab_file"])
    offset = 0
    with open(out / "samples.int16", "wb") as fh:
        for part in parts_p:
            for utt, value in read_table(part / "index").items():
                start, n = (int(v) for v in value.split())
                index[utt] = f"{offset + start} {n}"
            labels.update(read_table(part / first["label_file"]))
            with open(part / "samples.int16", "rb") as src:
                shutil.copyfileobj(src, fh, 1 << 22)
            offset += json.loads((part / "meta.json").read_text(encoding="utf-8"))["n_samples"]
            shutil.rmtree(part)
    write_table(out / "index", index)
    write_table(out / first["label_file"], labels)
    meta = {**first, "n_samples": offset}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    log.info("merged %d dump parts into %s: %d utterances", len(parts_p), out, len(index))
    return offset


__all__ = ["merge_data_dir", "merge_dumps", "split_data_dir", "split_dir"]
