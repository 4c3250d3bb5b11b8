"""Cached engine: Fast WaveNet queues in plain torch, on any device.

Layer l keeps a ring buffer of its last ``d_l`` inputs, so each new sample costs one
matrix-vector product per weight matrix instead of recomputing the receptive field.
The conditioning is projected once, when the engine is built; a local-conditioning plan adds
its current frame's (B, L, G) bias to the gate biases at each step.
"""

from __future__ import annotations

import torch

from wavegen.engine.local import checked_local
from wavegen.models.weights import LocalBias, WaveNetWeights


class CachedEngine:
    name = "cached"

    def __init__(self, weights: WaveNetWeights, cond: torch.Tensor,
                 local: LocalBias | None = None) -> None:
        """weights on cond's device; cond (B, C) float; local: table (B, F, L, G) there."""
        w = weights
        self.w = w
        B, R, H = cond.shape[0], w.residual_channels, w.gate_channels // 2
        self.H = H
        # Per-layer transposed weights: activations are row vectors (B, channels).
        self.dil_wt = [w.dil_weight[i].T.contiguous() for i in range(w.n_layers)]  # (2R, G)
        # (B, G) each, views of one (B, L, G) tensor: conditioning projected once
        self.gate_bias = list(w.gate_biases(cond).unbind(1))
        self.res_wt = [w.res_weight[i].T.contiguous() for i in range(w.n_layers - 1)]  # (H, R)
        self.skip_wt = [w.skip_weight[i].T.contiguous() for i in range(w.n_layers)]  # (H, S)
        self.skip_bias = w.skip_bias.sum(0)  # (S,)
        self.out1_wt, self.out2_wt = w.out1_weight.T.contiguous(), w.out2_weight.T.contiguous()
        # Ring buffers (d, B, R); zeros are the causal left padding of training.
        self.queues = [cond.new_zeros(d, B, R) for d in w.dilations]
        self.t = 0
        self.local: LocalBias | None = None
        if local is not None:
            self.set_local(local)

    def set_cond(self, cond: torch.Tensor) -> None:
        """New conditioning (B, C) from the next step on: the gate biases are re-projected in
        place (a captured CUDA graph of the ``graph`` engine reads the same buffers)."""
        new = self.w.gate_biases(cond.to(self.gate_bias[0].device, self.gate_bias[0].dtype))
        for old, layer in zip(self.gate_bias, new.unbind(1), strict=True):
            old.copy_(layer)

    def set_local(self, local: LocalBias) -> None:
        """A new plan (B, F, L, G) from the next step on; frames are counted from step 0."""
        self.local = checked_local(local, self.w, self.queues[0].shape[1],
                                   self.gate_bias[0].device)

    def _frame(self) -> torch.Tensor | None:
        """(B, L, G) local bias of the coming step, or None without a plan; raises
        WavegenError past the plan's end."""
        return None if self.local is None else self.local.frame(self.t)

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B,) long, the newest input sample -> logits (B, A) for the next one."""
        w, H = self.w, self.H
        frame = self._frame()  # (B, L, G) or None
        x = w.embed[codes]  # (B, R)
        skips = self.skip_bias.expand(x.shape[0], -1)  # (B, S)
        for i, d in enumerate(w.dilations):
            slot = self.t % d
            past = self.queues[i][slot].clone()  # (B, R): this layer's input at t - d
            self.queues[i][slot] = x
            bias = self.gate_bias[i] if frame is None else self.gate_bias[i] + frame[:, i]
            z = torch.addmm(bias, torch.cat([past, x], dim=1), self.dil_wt[i])  # (B, G)
            h = torch.tanh(z[:, :H]) * torch.sigmoid(z[:, H:])  # (B, H)
            skips = torch.addmm(skips, h, self.skip_wt[i])  # (B, S)
            if i < w.n_layers - 1:
                x = x + torch.addmm(w.res_bias[i], h, self.res_wt[i])  # (B, R)
        self.t += 1
        h = torch.relu(torch.addmm(w.out1_bias, torch.relu(skips), self.out1_wt))  # (B, S)
        return torch.addmm(w.out2_bias, h, self.out2_wt)  # (B, A)
