"""Plan files: a unit sequence as JSON, the input a renderer is conditioned on.

Format (version 1)::

    {"format": "wavegen-plan", "version": 1, "sample_rate": 8000, "hop": 160,
     "n_units": 256, "tokenizer": {identity of the tokenizer}, "units": [17, 17, 203, ...]}

``units`` holds one id per frame of ``hop`` samples (frame f covers the samples
``f * hop .. (f + 1) * hop - 1`` of the audio it plans); a plan of F frames renders
``F * hop`` samples. :func:`read_plan` checks everything before returning: a regular file of
at most ``MAX_PLAN_BYTES``, UTF-8 JSON with containers nested at most ``MAX_DEPTH`` deep,
exactly the keys above, integers (not floats, not booleans) where integers belong, ids in
``[0, n_units)``, between 1 and ``MAX_FRAMES`` frames.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wavegen.errors import WavegenError
from wavegen.outputs import write_text
from wavegen.units.files import input_file
from wavegen.units.store import MAX_UNITS

FORMAT = "wavegen-plan"
VERSION = 1
MAX_PLAN_BYTES = 16 * 1024 * 1024
MAX_FRAMES = 1_000_000  # 5.5 h at 50 Hz
MAX_DEPTH = 3  # containers: plan -> tokenizer -> its features list
KEYS = ("format", "version", "sample_rate", "hop", "n_units", "tokenizer", "units")


@dataclass(frozen=True)
class Plan:
    """A validated plan. ``units`` is ``(F,)`` int64."""

    sample_rate: int
    hop: int
    n_units: int
    tokenizer: dict[str, Any]
    units: np.ndarray = field(repr=False)

    @property
    def n_frames(self) -> int:
        return int(self.units.size)

    @property
    def seconds(self) -> float:
        """Duration the plan covers: ``F * hop / sample_rate``."""
        return self.n_frames * self.hop / self.sample_rate

    def check(self, sample_rate: int, hop: int, n_units: int, what: str = "the model") -> None:
        """Refuse a plan made for another rate, hop or vocabulary than ``what`` expects.

        Raises:
            WavegenError: naming the mismatch.
        """
        for name, mine, theirs in (("sample rate", self.sample_rate, sample_rate),
                                   ("hop", self.hop, hop), ("n_units", self.n_units, n_units)):
            if mine != theirs:
                raise WavegenError(f"the plan has {name} {mine}, {what} expects {theirs}; make "
                                   "the plan with the tokenizer of this model")

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "sample_rate": self.sample_rate,
                "hop": self.hop, "n_units": self.n_units, "tokenizer": self.tokenizer,
                "units": [int(u) for u in self.units]}


def make_plan(units: np.ndarray, identity: dict[str, Any]) -> Plan:
    """A plan of ``units (F,)`` made by the tokenizer of ``identity``, validated."""
    return _validate({"format": FORMAT, "version": VERSION,
                      "sample_rate": identity.get("sample_rate"), "hop": identity.get("hop"),
                      "n_units": identity.get("n_units"), "tokenizer": identity,
                      "units": [int(u) for u in np.asarray(units).reshape(-1)]}, "plan")


def write_plan(path: str | os.PathLike[str], plan: Plan) -> None:
    """Write ``plan`` as JSON, atomically (one line of ids; the header keys first)."""
    write_text(path, json.dumps(plan.to_json(), separators=(",", ":")) + "\n")


def read_plan(path: str | os.PathLike[str]) -> Plan:
    """Read and validate a plan file.

    Raises:
        WavegenError: a missing path, a folder or FIFO, a file too large, not UTF-8 JSON,
            nested too deeply, or any field missing, extra or out of range.
    """
    path = input_file(path, "plan file", "make one with wavegen units clip")
    with open(path, "rb") as fh:
        data = fh.read(MAX_PLAN_BYTES + 1)
    if len(data) > MAX_PLAN_BYTES:
        raise WavegenError(f"plan file {path} is larger than {MAX_PLAN_BYTES // 2**20} MiB; a "
                           f"plan holds at most {MAX_FRAMES} frames")
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise WavegenError(f"plan file {path} is not JSON ({err})") from None
    except RecursionError:
        obj = None  # nested far too deeply for the parser: refused just below
    if obj is None or _too_deep(obj, MAX_DEPTH):
        raise WavegenError(f"plan file {path} is nested more than {MAX_DEPTH} levels deep; it "
                           "is not a wavegen plan")
    return _validate(obj, f"plan file {path}")


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _too_deep(obj: Any, levels: int) -> bool:
    """True if ``obj`` nests containers (objects, arrays) more than ``levels`` deep."""
    if not isinstance(obj, (dict, list)):
        return False
    if levels == 0:
        return True
    return any(_too_deep(v, levels - 1) for v in (obj.values() if isinstance(obj, dict) else obj))


def _int(obj: dict[str, Any], key: str, lo: int, hi: int, where: str) -> int:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise WavegenError(f"{where}: {key} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _validate(obj: Any, where: str) -> Plan:
    if not isinstance(obj, dict):
        raise WavegenError(f"{where} is not a wavegen plan (a JSON object is expected)")
    if obj.get("format") != FORMAT:
        raise WavegenError(f"{where} is not a wavegen plan (format {obj.get('format')!r}, "
                           f"expected {FORMAT!r})")
    if obj.get("version") != VERSION or isinstance(obj.get("version"), bool):
        raise WavegenError(f"{where} is a plan of version {obj.get('version')!r}; this wavegen "
                           f"reads version {VERSION}")
    missing = [k for k in KEYS if k not in obj]
    extra = sorted(set(obj) - set(KEYS))
    if missing or extra:
        raise WavegenError(f"{where}: " + "; ".join(
            part for part in (missing and f"missing {', '.join(missing)}",
                              extra and f"unknown keys {', '.join(extra)}") if part))
    sample_rate = _int(obj, "sample_rate", 1000, 192000, where)
    hop = _int(obj, "hop", 1, sample_rate, where)
    n_units = _int(obj, "n_units", 1, MAX_UNITS, where)
    tokenizer = obj["tokenizer"]
    if not isinstance(tokenizer, dict) or any(
            tokenizer.get(k) != v for k, v in (("sample_rate", sample_rate), ("hop", hop),
                                               ("n_units", n_units))):
        raise WavegenError(f"{where}: tokenizer must be the identity of the tokenizer that "
                           "made the plan, with the plan's sample_rate, hop and n_units")
    units = obj["units"]
    if not isinstance(units, list) or not 1 <= len(units) <= MAX_FRAMES:
        size = len(units) if isinstance(units, list) else type(units).__name__
        raise WavegenError(f"{where}: units must be a list of 1 to {MAX_FRAMES} unit ids, got "
                           f"{size}")
    for i, u in enumerate(units):
        if isinstance(u, bool) or not isinstance(u, int) or not 0 <= u < n_units:
            raise WavegenError(f"{where}: units must be integers in [0, {n_units}), found "
                               f"{u!r} at frame {i}")
    return Plan(sample_rate, hop, n_units, dict(tokenizer), np.asarray(units, dtype=np.int64))
