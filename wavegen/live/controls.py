"""The live controls: checking what the page sends, and writing down what was played.

A take's controls are a conditioning mix (a weight per genre, or the chosen tags of a tag
model) and the sampling settings. The page sends changes as JSON; :func:`apply_change`
checks one against the model and returns the new :class:`Controls` (or raises with a message
for the page, and the old controls stay). :class:`ControlLog` records the controls in force at
each control block as the generator reads them, and writes the take as an automation file
(:mod:`wavegen.automation`) that ``wavegen synth --automation`` renders back sample for sample.

How a step becomes exact in a linear-interpolation format: ``synth`` reads an automation file at
the same block starts the live stream did (every ``control_every`` samples), so a change that
took effect at block start ``s`` is written as two points, the old value at the previous block
start and the new one at ``s``. Between two points with the same value the interpolation gives
that value bit for bit, and at a point's own time it gives the point's value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch

from wavegen.config import check_sampling
from wavegen.errors import WavegenError
from wavegen.synth import condition_vector

SETTINGS = ("temperature", "top_p", "guidance")
MAX_LABELS = 1000


@dataclass(frozen=True)
class Controls:
    """The controls of a take at one moment.

    ``mix``: for a genre model, label -> weight (> 0, summing to 1, in vocabulary order); for a
    tag model, the chosen tags -> 1.0.
    """

    mix: tuple[tuple[str, float], ...]
    temperature: float
    top_p: float
    guidance: float

    def spec(self, label_kind: str) -> str:
        """The conditioning as ``--genre``/``--tags`` write it (``rock:0.5,jazz:0.5``,
        ``rock,guitar``)."""
        if label_kind == "utt2tags":
            return ",".join(name for name, _ in self.mix)
        return ",".join(f"{name}:{w!r}" for name, w in self.mix)

    def automation_value(self, label_kind: str) -> Any:
        """The conditioning as an automation file writes it: weights, or a list of tags."""
        if label_kind == "utt2tags":
            return [name for name, _ in self.mix]
        return dict(self.mix)

    def settings(self) -> tuple[float, float, float]:
        return self.temperature, self.top_p, self.guidance


def condition_of(controls: Controls, vocab: list[str], label_kind: str) -> torch.Tensor:
    """The (C,) conditioning vector of ``controls``, computed as ``synth`` computes it from
    the automation file's spec (the same function on the same text: the same bits)."""
    return condition_vector(controls.spec(label_kind), vocab, label_kind,
                            from_tags=label_kind == "utt2tags")


def initial_controls(vocab: list[str], label_kind: str, defaults: dict[str, float],
                     label: str | None = None) -> Controls:
    """The controls a take starts with: ``label`` (default the first of the vocabulary) alone,
    and the model file's sampling defaults (else 1)."""
    label = vocab[0] if label is None else label
    if label not in vocab:
        raise WavegenError(f"unknown {'tag' if label_kind == 'utt2tags' else 'genre'} "
                           f"'{label}'; known: {', '.join(vocab)}")
    temperature, top_p, guidance = (float(defaults.get(k, 1.0)) for k in SETTINGS)
    check_sampling(temperature, top_p, guidance)
    return Controls(((label, 1.0),), temperature, top_p, guidance)


def apply_change(current: Controls, change: dict[str, Any], vocab: list[str], label_kind: str,
                 guided: bool) -> Controls:
    """``current`` with the fields of a ``controls`` message changed.

    Args:
        change: any of ``weights`` (label -> number >= 0; labels left out are 0; for a tag
            model, a weight > 0 chooses the tag), ``temperature``, ``top_p``, ``guidance``.
        guided: whether the take runs the unconditional twins (a model trained with
            conditioning dropout); without them guidance must stay 1.

    Raises:
        WavegenError: an unknown field or label, a value that is not a finite number or is out
            of range, weights that are all zero; the message says what is accepted.
    """
    unknown = sorted(set(change) - {"weights", *SETTINGS})
    if unknown:
        raise WavegenError(f"unknown control(s) {', '.join(map(str, unknown))[:200]}; the "
                           f"controls are weights, {', '.join(SETTINGS)}")
    out = current
    if "weights" in change:
        out = replace(out, mix=_mix(change["weights"], vocab, label_kind))
    for name in SETTINGS:
        if name in change:
            value = _number(change[name], name)
            check_sampling(**{name: value})
            if name == "guidance" and value != 1.0 and not guided:
                raise WavegenError("this model was trained without conditioning dropout, so it "
                                   "has no unconditional half to guide with: guidance stays 1")
            out = replace(out, temperature=value) if name == "temperature" else (
                replace(out, top_p=value) if name == "top_p" else replace(out, guidance=value))
    condition_of(out, vocab, label_kind)  # the same check synth makes
    return out


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WavegenError(f"{name} must be a number, got {str(value)[:40]!r}")
    if not math.isfinite(value):
        raise WavegenError(f"{name} must be a finite number, got {value}")
    return float(value)


def _mix(weights: Any, vocab: list[str], label_kind: str) -> tuple[tuple[str, float], ...]:
    """Page weights -> the mix: positive weights normalized to sum 1, in vocabulary order (a
    tag model: the tags with a weight > 0, each 1)."""
    kind = "tag" if label_kind == "utt2tags" else "genre"
    if not isinstance(weights, dict) or not weights or len(weights) > MAX_LABELS:
        raise WavegenError(f"weights must be an object of {kind} -> weight, e.g. "
                           f'{{"{vocab[0]}": 1}}')
    for name, w in weights.items():
        if name not in vocab:
            raise WavegenError(f"unknown {kind} '{str(name)[:40]}'; known: {', '.join(vocab)}")
        value = _number(w, f"the weight of {name}")
        if value < 0:
            raise WavegenError(f"the weight of {name} must be >= 0, got {value:g}")
    chosen = [(name, float(weights[name])) for name in vocab if weights.get(name, 0) > 0]
    if not chosen:
        raise WavegenError(f"all {kind} weights are zero: raise at least one above zero")
    if label_kind == "utt2tags":
        return tuple((name, 1.0) for name, _ in chosen)
    total = sum(w for _, w in chosen)
    if not math.isfinite(total):
        raise WavegenError("the weights are too large to add up; use numbers up to 1e300")
    return tuple((name, w / total) for name, w in chosen)


class ControlLog:
    """The controls of one take, block by block, as an automation file.

    ``record(start, controls)`` is called with every control block's first sample index in
    increasing order (the blocks ``stream()`` reads its controls at); only changes are kept.
    """

    def __init__(self, control_every: int, rate: int) -> None:
        self.control_every = control_every
        self.rate = rate
        self.changes: list[tuple[int, Controls]] = []  # (block start, controls from there on)
        self.last_block = -1

    def record(self, start: int, controls: Controls) -> bool:
        """Note the controls of the block starting at ``start``; True if they changed."""
        if start <= self.last_block:
            raise ValueError(f"block {start} is not after block {self.last_block}")
        self.last_block = start
        if self.changes and self.changes[-1][1] == controls:
            return False
        self.changes.append((start, controls))
        return True

    def automation(self, n_samples: int, label_kind: str) -> dict[str, Any]:
        """The first ``n_samples`` of the take as automation tracks (seconds, value): the
        conditioning (``genre`` or ``tags``), temperature, top_p and guidance. Every track is
        written, so no setting falls back to a model default; the guidance track is written
        even if it stayed 1: for a model that can guide it makes ``synth`` run the
        unconditional twins as the take did."""
        label = "tags" if label_kind == "utt2tags" else "genre"
        names = [label, "temperature", "top_p", "guidance"]
        kept = [(s, c) for s, c in self.changes if s < n_samples] or self.changes[:1]
        tracks: dict[str, list[list[Any]]] = {}
        for name in names:
            points: list[tuple[int, Any]] = []  # (block start, value)
            for start, c in kept:
                value = c.automation_value(label_kind) if name == label else getattr(c, name)
                if points and points[-1][1] == value:
                    continue
                if points and start - self.control_every > points[-1][0]:
                    # hold the old value up to the block before the change
                    points.append((start - self.control_every, points[-1][1]))
                points.append((start, value))
            tracks[name] = [[start / self.rate, value] for start, value in points]
        return tracks
