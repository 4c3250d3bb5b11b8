"""Reference engine: recompute the whole receptive field for every sample.

Slow and obviously correct. ``forward_weights`` is the parallel forward pass written directly
on the exported weights (no nn.Module), so it also checks the export itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from wavegen.models.weights import WaveNetWeights


def forward_weights(w: WaveNetWeights, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Parallel forward on exported weights. codes (B, T) long, cond (B, C), or (B, T, C) for
    conditioning that changes over time (``cond[:, t]`` conditions position t) -> logits
    (B, A, T)."""
    R, H = w.residual_channels, w.gate_channels // 2
    x = w.embed[codes]  # (B, T, R)
    skips = torch.zeros(())  # broadcasts to (B, T, S) at the first layer
    for layer, d in enumerate(w.dilations):
        past = F.pad(x, (0, 0, d, 0))[:, : x.shape[1]]  # (B, T, R): x[t - d], zeros before 0
        wt = w.dil_weight[layer]  # (G, 2R)
        z = past @ wt[:, :R].T + x @ wt[:, R:].T + w.dil_bias[layer]  # (B, T, G)
        proj = cond @ w.cond_weight[layer].T  # (B, G) or (B, T, G)
        z = z + (proj.unsqueeze(1) if cond.dim() == 2 else proj)  # (B, T, G)
        h = torch.tanh(z[..., :H]) * torch.sigmoid(z[..., H:])  # (B, T, H)
        skips = skips + h @ w.skip_weight[layer].T + w.skip_bias[layer]  # (B, T, S)
        if layer < w.n_layers - 1:
            x = x + h @ w.res_weight[layer].T + w.res_bias[layer]  # (B, T, R)
    h = F.relu(F.relu(skips) @ w.out1_weight.T + w.out1_bias)  # (B, T, S)
    logits = h @ w.out2_weight.T + w.out2_bias  # (B, T, A)
    return logits.transpose(1, 2)  # (B, A, T)


class ReferenceEngine:
    """Keeps the full input history; each step runs ``forward_weights`` on the last
    receptive field of inputs and returns the last position's logits."""

    name = "reference"

    def __init__(self, weights: WaveNetWeights, cond: torch.Tensor) -> None:
        self.w = weights
        self.cond = cond  # (B, C): in effect from the next step on
        self.history = torch.zeros(cond.shape[0], 0, dtype=torch.long, device=cond.device)
        # (B, <= RF, C): the conditioning each position of the history was computed with
        self.cond_history = cond.new_zeros(cond.shape[0], 0, cond.shape[1])

    def set_cond(self, cond: torch.Tensor) -> None:
        """New conditioning (B, C) from the next step on; the past keeps its own."""
        self.cond = cond.to(self.cond.device, self.cond.dtype)

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B,) long, the newest input sample -> logits (B, A) for the next one."""
        rf = self.w.receptive_field
        self.history = torch.cat([self.history, codes[:, None]], dim=1)[:, -rf:]  # (B, <= RF)
        self.cond_history = torch.cat([self.cond_history, self.cond[:, None]], dim=1)[:, -rf:]
        return forward_weights(self.w, self.history, self.cond_history)[:, :, -1]
