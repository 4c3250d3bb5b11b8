"""Automation files: a clip's conditioning and sampling settings as time points.

``wavegen synth --automation FILE`` renders one. The file is JSON, one track per setting, each
a list of ``[seconds, value]`` points in increasing time; between two points a value moves
linearly, before the first and after the last it holds::

    {"genre": [[0, "rock"], [4, "jazz:0.5,pop:0.5"], [8, {"metal": 1}]],
     "temperature": [[0, 0.9], [8, 0.7]],
     "top_p": [[0, 0.9]],
     "guidance": [[0, 8], [6, 3]]}

``genre`` (a genre, a mix as ``--genre`` writes it, or a mapping of weights) or, for a tag
model, ``tags`` (``"rock,guitar"`` or a list of tags) is required; the sampling tracks are
optional (missing: the ``synth`` flags, else the model's defaults). A ``guidance`` track, for a
model trained with conditioning dropout, runs the unconditional twins throughout, even where the
scale is 1: that is how ``wavegen live`` played the take it recorded.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from wavegen.config import check_sampling
from wavegen.errors import WavegenError
from wavegen.models.conditioning import trajectory_value

SAMPLING_TRACKS = ("temperature", "top_p", "guidance")
MAX_BYTES = 1 << 20  # an automation file is text of a few KB; refuse anything huge


@dataclass
class Automation:
    """A parsed automation file: the conditioning track ((seconds, (C,) vector) points) and
    the sampling tracks present ((seconds, value) points)."""

    cond: list[tuple[float, torch.Tensor]]
    sampling: dict[str, list[tuple[float, float]]]

    def cond_at(self, seconds: float) -> torch.Tensor:
        return trajectory_value(self.cond, seconds)

    def setting_at(self, name: str, seconds: float, default: float) -> float:
        """A sampling setting at ``seconds``; ``default`` where the file has no such track."""
        points = self.sampling.get(name)
        if not points:
            return default
        as_tensors = [(t, torch.tensor(v, dtype=torch.float64)) for t, v in points]
        return float(trajectory_value(as_tensors, seconds))

    def guided(self, default_guidance: float, can_guide: bool = False) -> bool:
        """Whether the clip runs the unconditional twins: where any moment is sampled with
        guidance other than 1, and, for a model that can guide (``can_guide``: trained with
        conditioning dropout), wherever the file has a guidance track at all (as a live take
        of such a model did, even at scale 1)."""
        points = self.sampling.get("guidance")
        if not points:
            return default_guidance != 1.0
        return can_guide or any(v != 1.0 for _, v in points)


def load_automation(path: str | os.PathLike[str],
                    parse_point: Callable[[str], torch.Tensor], label_kind: str
                    ) -> Automation:
    """Read and check an automation file (see the module doc).

    Args:
        parse_point: a conditioning spec (as ``--genre``/``--tags`` take it) -> (C,) vector.
        label_kind: ``utt2genre`` (the file gives ``genre``) or ``utt2tags`` (``tags``).

    Raises:
        WavegenError: an unreadable or malformed file, unknown keys, a missing or bad track,
            times not increasing, or a value out of range; the message names the place.
    """
    where = str(path)
    p = Path(path)
    if not p.is_file():
        raise WavegenError(f"automation file {where} not found (or not a regular file)")
    if p.stat().st_size > MAX_BYTES:
        raise WavegenError(f"automation file {where} is larger than {MAX_BYTES} bytes")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WavegenError(f"automation file {where} is not valid JSON: {err}") from None
    if not isinstance(raw, dict):
        raise WavegenError(f"automation file {where}: expected a JSON object of tracks, got "
                           f"{type(raw).__name__}")
    label = "tags" if label_kind == "utt2tags" else "genre"
    known = (label, *SAMPLING_TRACKS)
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise WavegenError(f"automation file {where}: unknown track(s) {', '.join(unknown)}; "
                           f"this model takes {', '.join(known)}")
    if label not in raw:
        raise WavegenError(f"automation file {where}: no '{label}' track (required)")
    cond = []
    for t, v in _points(raw[label], f"{where}: {label}"):
        at = f"{where}: {label} at {t:g} s"
        try:
            cond.append((t, parse_point(_spec(v, at))))
        except WavegenError as err:
            raise WavegenError(f"{at}: {err}" if not str(err).startswith(where) else str(err)
                               ) from None
    sampling = {}
    for name in SAMPLING_TRACKS:
        if name in raw:
            points = [(t, _number(v, f"{where}: {name} at {t:g} s"))
                      for t, v in _points(raw[name], f"{where}: {name}")]
            for t, v in points:
                try:
                    check_sampling(**{name: v})
                except WavegenError as err:
                    raise WavegenError(f"{where}: {name} at {t:g} s: {err}") from None
            sampling[name] = points
    return Automation(cond, sampling)


def _points(track: Any, where: str) -> list[tuple[float, Any]]:
    """A track: a non-empty list of [seconds, value] in increasing, finite, >= 0 time."""
    if not isinstance(track, list) or not track:
        raise WavegenError(f"{where}: expected a non-empty list of [seconds, value] points")
    out: list[tuple[float, Any]] = []
    for item in track:
        if not isinstance(item, list) or len(item) != 2:
            raise WavegenError(f"{where}: each point is [seconds, value], got {item!r:.80}")
        t = _number(item[0], f"{where}: time")
        if t < 0:
            raise WavegenError(f"{where}: time {t:g} is negative")
        if out and t <= out[-1][0]:
            raise WavegenError(f"{where}: times must increase: {t:g} s comes after "
                               f"{out[-1][0]:g} s")
        out.append((t, item[1]))
    return out


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WavegenError(f"{where}: expected a number, got {value!r:.80}")
    if not math.isfinite(value):
        raise WavegenError(f"{where}: expected a finite number, got {value}")
    return float(value)


def _spec(value: Any, where: str) -> str:
    """A conditioning value as a ``--genre``/``--tags`` string: a string as is, a mapping of
    weights as ``a:w,b:w``, a list of tags joined by commas."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value:
        for name, w in value.items():
            _number(w, f"{where}: weight of {name!r}")
        return ",".join(f"{name}:{w}" for name, w in value.items())
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise WavegenError(f"{where}: expected a genre or tag string, a mapping of weights or a "
                       f"list of tags, got {value!r:.80}")
