"""The dump: audio resampled once to the model rate, in one memory-mapped int16 array.

Layout of a dump dir (one per data set)::

    samples.int16   all utterances back to back, raw little-endian int16
    index           "<utt> <offset> <n_samples>" lines (Kaldi table, C-sorted)
    meta.json       {"sample_rate": ..., "n_samples": ..., "label_file": ...}; written last,
                    so its presence marks a complete dump
    utt2genre / utt2tags, genres.txt / tags.txt   copied from the data dir

Training reads random segments through :class:`DumpStore` without decoding any file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torchaudio.transforms

from wavegen.audio import read_audio
from wavegen.data.kaldi import read_table, read_vocab, validate_data_dir, write_table
from wavegen.errors import WavegenError
from wavegen.progress import progress

log = logging.getLogger(__name__)

LABEL_FILES = (("utt2genre", "genres.txt"), ("utt2tags", "tags.txt"))


@lru_cache(maxsize=8)
def _resampler(orig_sr: int, new_sr: int) -> torchaudio.transforms.Resample:
    """A resampler with its filter kernel computed once (the same filter as
    :func:`wavegen.audio.resample`), reused for every file at ``orig_sr``."""
    return torchaudio.transforms.Resample(orig_sr, new_sr)


def _resample(samples: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    if orig_sr == new_sr:
        return samples
    with torch.no_grad():
        return _resampler(orig_sr, new_sr)(torch.from_numpy(samples)).numpy()


def dump_data_dir(data_dir: str | os.PathLike[str], out: str | os.PathLike[str],
                  sample_rate: int) -> int:
    """Resample every utterance of ``data_dir`` to ``sample_rate`` into ``out``.

    Returns:
        Total number of samples written.
    """
    data_dir, out = Path(data_dir), Path(out)
    utts = validate_data_dir(data_dir)
    wav_scp = read_table(data_dir / "wav.scp")
    label_file = next((lf for lf in LABEL_FILES if (data_dir / lf[0]).is_file()), None)
    if label_file is None:
        raise WavegenError(f"{data_dir} has neither utt2genre nor utt2tags")
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)
    index: dict[str, str] = {}
    offset = 0
    with open(out / "samples.int16", "wb") as fh:
        for utt in progress(utts, desc=f"dump {out.name}", unit="utt"):
            samples, sr = read_audio(wav_scp[utt])
            pcm = np.clip(np.round(_resample(samples, sr, sample_rate) * 32767.0), -32768, 32767)
            fh.write(pcm.astype("<i2").tobytes())
            index[utt] = f"{offset} {pcm.size}"
            offset += pcm.size
    write_table(out / "index", index)
    for name in label_file:
        shutil.copyfile(data_dir / name, out / name)
    meta = {"sample_rate": sample_rate, "n_samples": offset, "label_file": label_file[0],
            "vocab_file": label_file[1]}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    log.info("dumped %d utterances, %.1f s of audio, to %s", len(utts), offset / sample_rate, out)
    return offset


class DumpStore:
    """Read access to a dump dir. ``audio(utt)`` is a zero-copy int16 view ``(T,)``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise WavegenError(f"{self.path} is not a complete dump (no meta.json); "
                               "run the dump stage (wavegen dump) first")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        self.sample_rate: int = int(meta["sample_rate"])
        self.samples = np.memmap(self.path / "samples.int16", dtype="<i2", mode="r")
        self.index = {u: tuple(int(v) for v in s.split()) for u, s in
                      read_table(self.path / "index").items()}
        self.utts = list(self.index)
        self.label_kind: str = meta["label_file"]  # utt2genre or utt2tags
        self.vocab = read_vocab(self.path / meta["vocab_file"])
        self.labels = read_table(self.path / meta["label_file"])

    def audio(self, utt: str) -> np.ndarray:
        offset, n = self.index[utt]
        return self.samples[offset:offset + n]

    def label_vector(self, utt: str) -> np.ndarray:
        """(C,) float32: one-hot genre, or multi-hot tags (comma-separated in utt2tags)."""
        vec = np.zeros(len(self.vocab), dtype=np.float32)
        for label in self.labels[utt].split(","):
            vec[self.vocab.index(label.strip())] = 1.0
        return vec
