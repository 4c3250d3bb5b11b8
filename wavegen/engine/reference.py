"""Reference engine: recompute the whole receptive field for every sample.

Slow and obviously correct. ``forward_weights`` is the parallel forward pass written directly
on the exported weights (no nn.Module), so it also checks the export itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wavegen.engine.local import checked_local
from wavegen.models.weights import LocalBias, WaveNetWeights


def forward_weights(w: WaveNetWeights, codes: torch.Tensor, cond: torch.Tensor,
                    local: torch.Tensor | None = None) -> torch.Tensor:
    """Parallel forward on exported weights.

    Args:
        codes: (B, T) long inputs.
        cond: (B, C), or (B, T, C) for conditioning that changes over time (``cond[:, t]``
            conditions position t).
        local: optional (B, T, L, G) gate bias of each position and layer, added to the
            global one (local conditioning; ``engine.local.local_positions`` gives it for a
            :class:`~wavegen.models.weights.LocalBias`).

    Returns:
        (B, A, T) logits.
    """
    R, H = w.residual_channels, w.gate_channels // 2
    x = w.embed[codes]  # (B, T, R)
    skips = torch.zeros(())  # broadcasts to (B, T, S) at the first layer
    for layer, d in enumerate(w.dilations):
        past = F.pad(x, (0, 0, d, 0))[:, : x.shape[1]]  # (B, T, R): x[t - d], zeros before 0
        wt = w.dil_weight[layer]  # (G, 2R)
        z = past @ wt[:, :R].T + x @ wt[:, R:].T + w.dil_bias[layer]  # (B, T, G)
        proj = cond @ w.cond_weight[layer].T  # (B, G) or (B, T, G)
        z = z + (proj.unsqueeze(1) if cond.dim() == 2 else proj)  # (B, T, G)
        if local is not None:
            z = z + local[:, :, layer]  # (B, T, G)
        h = torch.tanh(z[..., :H]) * torch.sigmoid(z[..., H:])  # (B, T, H)
        skips = skips + h @ w.skip_weight[layer].T + w.skip_bias[layer]  # (B, T, S)
        if layer < w.n_layers - 1:
            x = x + h @ w.res_weight[layer].T + w.res_bias[layer]  # (B, T, R)
    h = F.relu(F.relu(skips) @ w.out1_weight.T + w.out1_bias)  # (B, T, S)
    logits = h @ w.out2_weight.T + w.out2_bias  # (B, T, A)
    return logits.transpose(1, 2)  # (B, A, T)


class ReferenceEngine:
    """Keeps the full input history; each step runs ``forward_weights`` on the last
    receptive field of inputs and returns the last position's logits. Each position of the
    history keeps the conditioning and the local frame it was computed with."""

    name = "reference"

    def __init__(self, weights: WaveNetWeights, cond: torch.Tensor,
                 local: LocalBias | None = None) -> None:
        """weights on cond's device; cond (B, C) float; local: table (B, F, L, G) there."""
        self.w = weights
        self.cond = cond  # (B, C): in effect from the next step on
        B = cond.shape[0]
        self.history = torch.zeros(B, 0, dtype=torch.long, device=cond.device)
        # (B, <= RF, C): the conditioning each position of the history was computed with
        self.cond_history = cond.new_zeros(B, 0, cond.shape[1])
        self.local: LocalBias | None = None
        self.local_history: torch.Tensor | None = None  # (B, <= RF, L, G), with local only
        self.t = 0  # steps taken: the plan's frame of the next one is t // hop
        if local is not None:
            self.set_local(local)

    def set_cond(self, cond: torch.Tensor) -> None:
        """New conditioning (B, C) from the next step on; the past keeps its own."""
        self.cond = cond.to(self.cond.device, self.cond.dtype)

    def set_local(self, local: LocalBias) -> None:
        """A new plan from the next step on (frames counted from step 0); the past keeps
        the frames it was computed with (none: zero bias, if it ran without a plan)."""
        self.local = checked_local(local, self.w, self.cond.shape[0], self.cond.device)
        if self.local_history is None:
            L, G = self.w.n_layers, self.w.gate_channels
            self.local_history = self.cond.new_zeros(*self.history.shape, L, G)

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B,) long, the newest input sample -> logits (B, A) for the next one."""
        rf = self.w.receptive_field
        # (B, 1, L, G) this step's frame; raises past the plan's end, before any state moves
        frame = None if self.local is None else self.local.frame(self.t)[:, None]
        self.history = torch.cat([self.history, codes[:, None]], dim=1)[:, -rf:]  # (B, <= RF)
        self.cond_history = torch.cat([self.cond_history, self.cond[:, None]], dim=1)[:, -rf:]
        if frame is not None and self.local_history is not None:
            self.local_history = torch.cat([self.local_history, frame], dim=1)[:, -rf:]
        self.t += 1
        logits = forward_weights(self.w, self.history, self.cond_history, self.local_history)
        return logits[:, :, -1]
