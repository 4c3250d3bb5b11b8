"""Unit tables stored beside a dump: one frame-rate sequence of unit ids per utterance.

Layout (``DUMP/SET/units/``, written by the units stage after the dump)::

    units.int16   every utterance's unit ids back to back, little-endian int16
    index         "<utt> <offset> <n_frames>" lines (Kaldi table, C-sorted)
    meta.json     {"hop", "sample_rate", "n_units", "n_frames", "tokenizer"}; written last,
                  so its presence marks a complete table

Frame f of an utterance covers the dump's samples ``f * hop .. (f + 1) * hop - 1``; an
utterance of N samples has ``ceil(N / hop)`` frames (the last one may be partial). The
``tokenizer`` entry identifies the tokenizer that wrote the table (its name and a hash of its
fitted state), so a renderer trained on one table is not fed units of another.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from wavegen.data.kaldi import read_table, write_table
from wavegen.errors import WavegenError

UNITS_DIR = "units"
MAX_UNITS = 32767  # ids are stored as int16


def n_frames_for(n_samples: int, hop: int) -> int:
    """Frames that cover ``n_samples`` samples: ``ceil(n_samples / hop)``."""
    return -(-int(n_samples) // int(hop))


def write_unit_store(out: str | os.PathLike[str], tables: Iterable[tuple[str, np.ndarray]],
                     hop: int, sample_rate: int, n_units: int,
                     tokenizer: dict[str, Any]) -> int:
    """Write the unit tables of a data set into ``out`` (normally ``DUMP/SET/units``).

    Args:
        tables: (utt, ids (F,) int) pairs; ids in ``[0, n_units)``.
        tokenizer: JSON-able identity of the tokenizer (``Tokenizer.identity()``).

    Returns:
        Total number of frames written.

    Raises:
        WavegenError: an id out of range, or an empty table.
    """
    if not 1 <= n_units <= MAX_UNITS:
        raise WavegenError(f"n_units must be in [1, {MAX_UNITS}], got {n_units}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "meta.json").unlink(missing_ok=True)
    index: dict[str, str] = {}
    offset = 0
    with open(out / "units.int16", "wb") as fh:
        for utt, ids in tables:
            ids = np.asarray(ids)
            if ids.ndim != 1 or ids.size == 0:
                raise WavegenError(f"units of {utt}: expected a non-empty 1-D table, got shape "
                                   f"{ids.shape}")
            if ids.min() < 0 or ids.max() >= n_units:
                raise WavegenError(f"units of {utt}: ids must be in [0, {n_units}), got "
                                   f"{int(ids.min())}..{int(ids.max())}")
            fh.write(ids.astype("<i2").tobytes())
            index[utt] = f"{offset} {ids.size}"
            offset += ids.size
    write_table(out / "index", index)
    meta = {"hop": int(hop), "sample_rate": int(sample_rate), "n_units": int(n_units),
            "n_frames": offset, "tokenizer": tokenizer}
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return offset


class UnitStore:
    """Read access to ``DUMP/SET/units``. ``units(utt)`` is an int16 view ``(F,)``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise WavegenError(f"{self.path} holds no complete unit table (no meta.json); run "
                               "the units stage (wavegen units extract) first")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            self.hop = int(meta["hop"])
            self.sample_rate = int(meta["sample_rate"])
            self.n_units = int(meta["n_units"])
            self.tokenizer: dict[str, Any] = dict(meta["tokenizer"])
        except (ValueError, KeyError, TypeError) as err:
            raise WavegenError(f"{meta_path} is damaged ({type(err).__name__}: {err}); run the "
                               "units stage again") from None
        size = (self.path / "units.int16").stat().st_size if (
            self.path / "units.int16").is_file() else -1
        if size < 0 or size % 2:
            raise WavegenError(f"{self.path}/units.int16 is missing or damaged; run the units "
                               "stage again")
        self.ids = (np.memmap(self.path / "units.int16", dtype="<i2", mode="r") if size
                    else np.zeros(0, "<i2"))
        self.index = {u: tuple(int(v) for v in s.split()) for u, s in
                      read_table(self.path / "index").items()}
        for utt, (off, n) in self.index.items():
            if off < 0 or n < 1 or off + n > self.ids.size:
                raise WavegenError(f"{self.path}/index: the entry of {utt} points outside "
                                   "units.int16; run the units stage again")

    def units(self, utt: str) -> np.ndarray:
        if utt not in self.index:
            raise WavegenError(f"{self.path} has no units for utterance {utt}; run the units "
                               "stage again for this data set")
        offset, n = self.index[utt]
        return self.ids[offset:offset + n]

    def check_aligned(self, lengths: dict[str, int], sample_rate: int) -> None:
        """Every utterance of a dump (utt -> samples at ``sample_rate``) has a table of
        ``ceil(samples / hop)`` frames at the same rate.

        Raises:
            WavegenError: another rate, a missing utterance, or a length that does not match.
        """
        if sample_rate != self.sample_rate:
            raise WavegenError(f"{self.path} was extracted at {self.sample_rate} Hz, the audio "
                               f"is at {sample_rate} Hz; extract the units again from this dump")
        for utt, n in lengths.items():
            want = n_frames_for(n, self.hop)
            got = self.units(utt).size
            if got != want:
                raise WavegenError(f"{self.path}: {utt} has {got} frames of units but its audio "
                                   f"({n} samples, hop {self.hop}) needs {want}; extract the "
                                   "units again from this dump")
