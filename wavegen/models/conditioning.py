"""Global conditioning vectors: one-hot genres, convex genre mixes, multi-hot tags.

The zero vector is the "null" condition (no genre), used for unconditional generation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch

from wavegen.errors import WavegenError

log = logging.getLogger(__name__)


def parse_genre_mix(spec: str, vocab: list[str]) -> torch.Tensor:
    """``"rock"`` or ``"rock:0.7,jazz:0.3"`` -> (C,) float vector over ``vocab``.

    Weights are normalized to sum to 1 (a convex mix).

    Raises:
        WavegenError: unknown genre (the message lists the known ones) or a bad weight.
    """
    vec = torch.zeros(len(vocab))
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise WavegenError(f"empty genre; known genres: {', '.join(vocab)}")
    for part in parts:
        name, _, weight = part.partition(":")
        name = name.strip()
        if name not in vocab:
            raise WavegenError(f"unknown genre '{name}'; known genres: {', '.join(vocab)}")
        try:
            value = float(weight) if weight else 1.0
        except ValueError as err:
            raise WavegenError(f"bad weight '{weight}' for genre '{name}': not a number") from err
        if not math.isfinite(value) or value < 0:
            raise WavegenError(f"genre weight must be a finite number >= 0, got {value} "
                               f"for '{name}'")
        vec[vocab.index(name)] += value
    total = float(vec.sum())
    if total <= 0:
        raise WavegenError(f"genre weights in '{spec}' sum to zero")
    if abs(total - 1) > 1e-6 and any(":" in p for p in parts):
        mix = ", ".join(f"{g} {w:.3g}" for g, w in zip(vocab, (vec / total).tolist(),
                                                         strict=True) if w > 0)
        log.warning("genre weights in '%s' sum to %g, not 1: scaled to %s", spec, total, mix)
    return vec / total


def parse_tags(spec: str, vocab: list[str]) -> torch.Tensor:
    """``"rock,guitar,fast"`` -> (C,) multi-hot vector over the tag ``vocab``.

    Tag models are trained on unnormalized multi-hot vectors, so each named tag is 1.

    Raises:
        WavegenError: no tag, or an unknown tag (the message lists the known ones).
    """
    vec = torch.zeros(len(vocab))
    names = [t.strip() for t in spec.split(",") if t.strip()]
    if not names:
        raise WavegenError(f"no tag given; known tags: {', '.join(vocab)}")
    for name in names:
        if name not in vocab:
            raise WavegenError(f"unknown tag '{name}'; known tags: {', '.join(vocab)}")
        vec[vocab.index(name)] = 1.0
    return vec


def parse_trajectory(spec: str, parse_point: Callable[[str], torch.Tensor]
                     ) -> list[tuple[float, torch.Tensor]]:
    """A conditioning that moves over time: ``"rock@0,jazz@4,metal@8"`` -> [(0.0, rock),
    (4.0, jazz), (8.0, metal)], each value a (C,) vector from ``parse_point``.

    Points are ``SPEC@SECONDS`` separated by commas; a mix inside a point joins its parts
    with ``+`` (``"rock:0.7+jazz:0.3@2"``), as commas separate the points. Times are finite,
    >= 0 and strictly increasing. Between two points the vector moves linearly; before the
    first and after the last it holds (:func:`trajectory_value`).

    Raises:
        WavegenError: a point without ``@``, a bad time, times not increasing, or a bad
            SPEC (from ``parse_point``).
    """
    points: list[tuple[float, torch.Tensor]] = []
    for item in spec.split(","):
        label, at, when = item.strip().rpartition("@")
        if not at or not label.strip():
            raise WavegenError(f"'{item.strip()}' in '{spec}' is not GENRE@SECONDS; write "
                               "e.g. 'rock@0,jazz@4' (a mix in a point: 'rock:0.7+jazz:0.3@4')")
        try:
            t = float(when)
        except ValueError:
            raise WavegenError(f"'{when}' in '{item.strip()}' is not a time in seconds") from None
        if not math.isfinite(t) or t < 0:
            raise WavegenError(f"time {when} in '{item.strip()}' must be a finite number >= 0")
        if points and t <= points[-1][0]:
            raise WavegenError(f"times in '{spec}' must increase: {t:g} s comes after "
                               f"{points[-1][0]:g} s")
        points.append((t, parse_point(label.strip().replace("+", ","))))
    return points


def trajectory_value(points: list[tuple[float, torch.Tensor]], seconds: float) -> torch.Tensor:
    """The (C,) vector of a :func:`parse_trajectory` result at ``seconds``: linear between
    the neighbouring points, held before the first and after the last."""
    if seconds <= points[0][0]:
        return points[0][1]
    for (t0, v0), (t1, v1) in zip(points, points[1:], strict=False):
        if seconds <= t1:
            return torch.lerp(v0, v1, (seconds - t0) / (t1 - t0))
    return points[-1][1]


def one_hot(indices: torch.Tensor, n: int) -> torch.Tensor:
    """(B,) long -> (B, n) float one-hot."""
    return torch.nn.functional.one_hot(indices, n).float()
