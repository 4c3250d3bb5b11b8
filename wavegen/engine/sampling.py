"""Turning logits into samples, identically in every engine.

Every engine draws a sample by inverse-CDF lookup with a uniform random number supplied from
outside, so two engines fed the same uniforms emit the same codes whenever their logits agree
(the nv-wavenet exactness test).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from wavegen.errors import WavegenError


def check_sampled_rows(engine_rows: int, sampled_rows: int, guidance: float) -> bool:
    """Whether sampling is guided: the engine holds twice ``sampled_rows`` rows (the
    conditional rows, then their unconditional twins). A guided engine may sample at scale 1
    (a guidance that moves over time passes through it); raises when the rows fit neither
    layout, or when guidance != 1 is asked of an unguided engine."""
    guided = engine_rows == 2 * sampled_rows
    if not guided and (engine_rows != sampled_rows or guidance != 1.0):
        raise WavegenError(f"engine holds {engine_rows} rows; cannot sample {sampled_rows} rows "
                           f"{'with' if guidance != 1.0 else 'without'} guidance")
    return guided


def sample_from_logits(
    logits: torch.Tensor, uniforms: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0
) -> torch.Tensor:
    """Draw one code per row.

    Args:
        logits: (B, A) unnormalized log-probabilities.
        uniforms: (B,) numbers in [0, 1).
        temperature: divides the logits (< 1 sharper, > 1 flatter).
        top_p: keep the smallest set of most likely codes whose mass reaches top_p.

    Returns:
        (B,) long codes: the first code whose cumulative probability exceeds ``u * total``.
    """
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (B, A)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        mass_before = sorted_p.cumsum(-1) - sorted_p  # (B, A)
        sorted_p = sorted_p.masked_fill(mass_before >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
    cdf = probs.cumsum(dim=-1)  # (B, A)
    target = uniforms.to(cdf).unsqueeze(-1) * cdf[:, -1:]  # (B, 1)
    codes = torch.searchsorted(cdf, target, right=True).squeeze(-1)
    return codes.clamp_(max=logits.shape[-1] - 1)


def guided_step(step: Callable[[torch.Tensor], torch.Tensor], prev: torch.Tensor,
                u: torch.Tensor, temperature: float, top_p: float,
                guidance: float, guided: bool | None = None) -> torch.Tensor:
    """One sampled step of Bs rows through an engine's ``step`` -> codes (Bs,) long.

    prev: (Bs,) long, the previous codes; u: (Bs,) uniforms. A guided engine (``guided``;
    by default ``guidance != 1``) holds 2 Bs rows, the unconditional twins after the
    conditional rows; both are fed ``prev`` and the logits are
    ``torch.lerp(uncond, cond, guidance)``."""
    if guidance != 1.0 if guided is None else guided:
        Bs = prev.shape[0]
        both = step(torch.cat([prev, prev]))  # (2 Bs, A)
        logits = torch.lerp(both[Bs:], both[:Bs], guidance)
    else:
        logits = step(prev)
    return sample_from_logits(logits, u, temperature, top_p)
