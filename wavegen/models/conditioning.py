"""Global conditioning vectors: one-hot genres, convex genre mixes, multi-hot tags.

The zero vector is the "null" condition (no genre), used for unconditional generation.
"""

from __future__ import annotations

import logging
import math

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


def one_hot(indices: torch.Tensor, n: int) -> torch.Tensor:
    """(B,) long -> (B, n) float one-hot."""
    return torch.nn.functional.one_hot(indices, n).float()
