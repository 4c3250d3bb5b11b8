"""A straightforward WaveNet, the baseline of ``train_step.py``.

Written the way most WaveNet training code is (r9y9's wavenet_vocoder, ibab's
tensorflow-wavenet): one-hot input through a 1x1 convolution, per layer an ``nn.Conv1d`` with
``dilation`` on a left-padded input, the conditioning added as a bias, ``tanh * sigmoid``, and
separate residual and skip 1x1 convolutions, all in (B, C, T) layout with autograd storing every
intermediate. It is the same function as ``wavegen.models.wavenet.WaveNet`` (``load_from``
copies that model's weights in; ``tests/benchmarks`` checks the outputs agree), so the two are
timed on equal work.

Shapes: B batch, T time, A classes, R residual, G gate, H = G / 2, S skip, C conditioning.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from wavegen.models.wavenet import WaveNet, WaveNetConfig


class BaselineLayer(nn.Module):
    def __init__(self, cfg: WaveNetConfig, dilation: int, last: bool) -> None:
        super().__init__()
        self.dilation = dilation
        hidden = cfg.gate_channels // 2
        self.conv = nn.Conv1d(cfg.residual_channels, cfg.gate_channels, 2, dilation=dilation)
        self.cond = nn.Linear(cfg.n_cond, cfg.gate_channels, bias=False)
        self.res = None if last else nn.Conv1d(hidden, cfg.residual_channels, 1)
        self.skip = nn.Conv1d(hidden, cfg.skip_channels, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, R, T), cond (B, C) -> residual output (B, R, T), skip (B, S, T)."""
        z = self.conv(F.pad(x, (self.dilation, 0))) + self.cond(cond)[:, :, None]  # (B, G, T)
        a, b = z.chunk(2, dim=1)
        h = torch.tanh(a) * torch.sigmoid(b)  # (B, H, T)
        out = x if self.res is None else x + self.res(h)
        return out, self.skip(h)


class BaselineWaveNet(nn.Module):
    def __init__(self, cfg: WaveNetConfig) -> None:
        super().__init__()
        self.n_classes = cfg.n_classes
        self.first = nn.Conv1d(cfg.n_classes, cfg.residual_channels, 1, bias=False)
        dil = cfg.dilations
        self.layers = nn.ModuleList(BaselineLayer(cfg, d, i == len(dil) - 1)
                                    for i, d in enumerate(dil))
        self.out1 = nn.Conv1d(cfg.skip_channels, cfg.skip_channels, 1)
        self.out2 = nn.Conv1d(cfg.skip_channels, cfg.n_classes, 1)

    def forward(self, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """codes (B, T) long, cond (B, C) -> logits (B, A, T)."""
        onehot = F.one_hot(codes, self.n_classes).transpose(1, 2).to(self.first.weight.dtype)
        x = self.first(onehot)  # (B, R, T)
        skips = 0
        for layer in self.layers:
            x, s = layer(x, cond)
            skips = skips + s
        return self.out2(F.relu(self.out1(F.relu(skips))))

    @torch.no_grad()
    def load_from(self, model: WaveNet) -> BaselineWaveNet:
        """Copy a ``WaveNet``'s weights (the same network, other parameter names)."""
        self.first.weight.copy_(model.embed.weight.t()[:, :, None])
        for mine, theirs in zip(self.layers, model.layers, strict=True):
            mine.conv.load_state_dict(theirs.dilated.state_dict())
            mine.cond.load_state_dict(theirs.cond.state_dict())
            mine.skip.load_state_dict(theirs.skip.state_dict())
            if mine.res is not None:
                mine.res.load_state_dict(theirs.residual.state_dict())
        self.out1.load_state_dict(model.out1.state_dict())
        self.out2.load_state_dict(model.out2.state_dict())
        return self
