"""The engine contract, in code: what :func:`wavegen.engine.stream` and the exactness tests
rely on. docs/engines.md describes how to add an engine."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from wavegen.models.weights import LocalBias, WaveNetWeights


@runtime_checkable
class Engine(Protocol):
    """Autoregressive state for a batch of B rows (fresh: the silence before a clip).

    Built as ``Engine(weights, cond, local=None)`` with ``cond`` (B, C) on the engine's
    device; the conditioning is projected once, at construction. ``local`` is an optional
    :class:`~wavegen.models.weights.LocalBias` (table (B, F, L, G) on the same device, hop):
    step ``n`` (counted from the fresh state, primer steps included) adds ``table[:, n //
    hop]`` to every layer's gate bias, and stepping past ``F * hop`` raises WavegenError. An
    engine built without it behaves exactly as before."""

    name: str
    w: WaveNetWeights

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B,) long, the newest input sample -> logits (B, A) for the next one;
        advances the caches by one sample."""
        ...

    def set_cond(self, cond: torch.Tensor) -> None:
        """New conditioning (B, C) for the samples from the next step on; the caches (the
        past, computed with the conditioning of its time) carry on. Only the conditioning's
        projection into the gate biases changes."""
        ...

    def set_local(self, local: LocalBias) -> None:
        """Replace the local-conditioning table (same B, L, G; frames still counted from
        step 0): a plan extended while generating. Frames already played may differ; only
        the frames of later steps matter (the caches keep the past as it was computed, with
        no local bias if the engine was built without a plan). Raises WavegenError for a
        table of another shape or device, or holding inf or NaN."""
        ...


@runtime_checkable
class FusedEngine(Engine, Protocol):
    """An engine that also runs whole chunks without returning to Python per sample."""

    def feed(self, codes: torch.Tensor) -> None:
        """Teacher-force codes (B, T) through the caches (a primer), discarding the logits."""
        ...

    def run(self, prev: torch.Tensor, uniforms: torch.Tensor, temperature: float = 1.0,
            top_p: float = 1.0, guidance: float = 1.0) -> torch.Tensor:
        """Sample ``n`` steps: prev (Bs,) long, uniforms (Bs, n) in [0, 1) -> codes (Bs, n).

        With ``guidance`` != 1 the engine holds 2 Bs rows (the conditional ones, then their
        unconditional twins) and samples from ``torch.lerp(uncond, cond, guidance)``
        logits, exactly as :func:`wavegen.engine.sampling.guided_step` does."""
        ...
