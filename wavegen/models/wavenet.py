"""WaveNet with global conditioning, parallel over time (training and teacher forcing).

Shapes: B batch, T time, A classes (mu-law), R residual channels, G gate channels (the dilated
convolution's output, split into a tanh half and a sigmoid half of H = G / 2 each), S skip
channels, C conditioning size (genre vocabulary or tag vocabulary).

At time t the logits predict sample t + 1 from samples ``<= t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, cast

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from wavegen.models.fused import compute_dtype, residual_layer
from wavegen.models.weights import WaveNetWeights

IMPLS = ("fused", "reference")
T = TypeVar("T")


@dataclass
class WaveNetConfig:
    """Architecture hyper-parameters.

    Attributes:
        n_classes: mu-law quantization levels (softmax size).
        residual_channels: R, width of the residual path.
        gate_channels: G, output channels of each dilated convolution (tanh half + sigmoid half).
        skip_channels: S, width of the skip path and the output head.
        n_layers: number of residual layers.
        dilation_cycle: dilations run 1, 2, 4, ... 2**(cycle-1), then repeat.
        n_cond: size of the global conditioning vector. The trainer always sets it to the
            size of the data's vocabulary; a value in a config file is replaced (the config
            that the run writes, ``<exp>/config.yaml``, shows the value used).

    Only what defines the network is here: how its forward is computed is chosen when the
    model is built (:class:`WaveNet`'s ``impl``, ``recompute_gate``,
    ``checkpoint_activations``; for training, ``train.*`` in the config).
    """

    n_classes: int = 256
    residual_channels: int = 32
    gate_channels: int = 64
    skip_channels: int = 64
    n_layers: int = 16
    dilation_cycle: int = 8
    n_cond: int = 10

    def __post_init__(self) -> None:
        for name in ("n_classes", "residual_channels", "gate_channels", "skip_channels",
                     "n_layers", "dilation_cycle", "n_cond"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"model.{name} must be positive, got {getattr(self, name)}")
        if self.gate_channels % 2:
            raise ValueError(f"model.gate_channels must be even, got {self.gate_channels}")

    @property
    def dilations(self) -> list[int]:
        return [2 ** (i % self.dilation_cycle) for i in range(self.n_layers)]

    @property
    def receptive_field(self) -> int:
        """Number of past input samples (including the current one) that reach the output."""
        return sum(self.dilations) + 1


class ResidualLayer(nn.Module):
    """Kernel-2 dilated causal conv, conditioning bias, gated unit, residual and skip 1x1s."""

    def __init__(self, cfg: WaveNetConfig, dilation: int, has_residual: bool) -> None:
        super().__init__()
        self.dilation = dilation
        hidden = cfg.gate_channels // 2
        self.dilated = nn.Conv1d(cfg.residual_channels, cfg.gate_channels, 2, dilation=dilation)
        self.cond = nn.Linear(cfg.n_cond, cfg.gate_channels, bias=False)
        self.skip = nn.Conv1d(hidden, cfg.skip_channels, 1)
        # The last layer's residual output feeds nothing, so it has no residual 1x1.
        self.residual = nn.Conv1d(hidden, cfg.residual_channels, 1) if has_residual else None

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, R, T), cond: (B, C) -> (residual out (B, R, T), skip (B, S, T))."""
        z = self.dilated(F.pad(x, (self.dilation, 0)))  # (B, G, T)
        z = z + self.cond(cond).unsqueeze(-1)  # (B, G, T)
        a, b = z.chunk(2, dim=1)  # (B, H, T) each
        h = torch.tanh(a) * torch.sigmoid(b)  # (B, H, T)
        skip = self.skip(h)  # (B, S, T)
        out = x + self.residual(h) if self.residual is not None else x  # (B, R, T)
        return out, skip

    def fused(self, xp: torch.Tensor, skip: torch.Tensor, cond: torch.Tensor, pad_out: int,
              recompute: bool, cdt: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The same layer on the fused path (time-major): xp (d + T, B, R) left-padded input,
        skip (N, S) running sum or (S,) to start one -> (next layer's padded input
        (pad_out + T, B, R), or None after the last layer; skip sum (N, S)). See
        :func:`wavegen.models.fused.residual_layer`."""
        res = self.residual
        return residual_layer(
            xp, skip, self.cond(cond) + self.dilated.bias, self.dilated.weight,
            None if res is None else res.weight[:, :, 0], None if res is None else res.bias,
            self.skip.weight[:, :, 0], self.dilation, pad_out, recompute, cdt)


def _present(x: T | None) -> T:
    """``x``, known not to be None here (a bias of a layer built with one, the residual 1x1
    of any layer but the last)."""
    assert x is not None
    return x


def _fused_block(layers: list[ResidualLayer], pads: list[int], x: torch.Tensor,
                 cond: torch.Tensor, recompute: bool,
                 cdt: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Layers in sequence on the fused path: x (d0 + T, B, R) -> (next input or None, (N, S)
    their skip sum)."""
    # A plain sum: the gradient of stack(...).sum(0) reaches each bias as a view of one shared
    # buffer, and accumulating a second backward into such .grad tensors adds up L times.
    skip = sum((_present(layer.skip.bias) for layer in layers[1:]),
               _present(layers[0].skip.bias))  # (S,)
    out: torch.Tensor | None = x
    for layer, pad in zip(layers, pads, strict=True):
        assert out is not None  # only the last layer of the stack returns None
        out, skip = layer.fused(out, skip, cond, pad, recompute, cdt)
    return out, skip


class WaveNet(nn.Module):
    """Genre/tag-conditioned WaveNet over mu-law codes.

    How the forward is computed, with the same parameters and results (not part of the
    architecture; model files do not store it):

    - ``impl``: ``fused`` (time-major GEMMs, one autograd node per layer; ``fused.py``) or
      ``reference`` (one ``nn.Conv1d`` per layer, the plain definition). Under autocast
      (``train.mixed_precision``) the fused path computes its GEMMs in the autocast dtype with
      float32 sums and float32 logits.
    - ``recompute_gate``: on the fused path, keep only each layer's input for backward and
      recompute its gate there (one extra GEMM per layer) instead of storing the gate's
      (T, B, G) activations.
    - ``checkpoint_activations``: on the fused path, keep only the input of each cycle of
      dilations for backward and recompute the cycle's forward (least memory).
    """

    def __init__(self, cfg: WaveNetConfig, impl: str = "fused", recompute_gate: bool = True,
                 checkpoint_activations: bool = False) -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {', '.join(IMPLS)}, got {impl!r}")
        self.cfg = cfg
        self.impl, self.recompute_gate = impl, bool(recompute_gate)
        self.checkpoint_activations = bool(checkpoint_activations)
        self.embed = nn.Embedding(cfg.n_classes, cfg.residual_channels)
        dil = cfg.dilations
        self.layers = nn.ModuleList(
            ResidualLayer(cfg, d, has_residual=i < len(dil) - 1) for i, d in enumerate(dil)
        )
        self.out1 = nn.Conv1d(cfg.skip_channels, cfg.skip_channels, 1)
        self.out2 = nn.Conv1d(cfg.skip_channels, cfg.n_classes, 1)

    def forward(self, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """codes: (B, T) long, cond: (B, C) float -> logits (B, A, T) for the next sample."""
        if self.impl == "fused":
            return self._fused_forward(codes, cond)
        x = self.embed(codes).transpose(1, 2)  # (B, R, T)
        skips = torch.zeros(
            x.shape[0], self.cfg.skip_channels, x.shape[2], dtype=x.dtype, device=x.device
        )  # (B, S, T)
        for layer in self.layers:
            x, s = layer(x, cond)
            skips = skips + s
        return self.head(skips)

    def _fused_forward(self, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The forward on the fused path: codes (B, T) long, cond (B, C) -> (B, A, T).

        Under autocast the residual stack computes in the autocast dtype with float32 sums
        (``fused.py``) and the output head runs under the caller's autocast; the logits are
        returned as float32 so the loss is computed in float32."""
        layers, dil = self.residual_layers, self.cfg.dilations
        B, T = codes.shape
        device = codes.device
        cdt = compute_dtype(device, self.embed.weight.dtype)
        # The stack handles its own casts: autocast off inside it, so the conditioning
        # projection, the biases and the sums stay in the parameters' dtype.
        with torch.autocast(device.type, enabled=False):
            x = self.embed(codes.t())  # (T, B, R)
            x = F.pad(x, (0, 0, 0, 0, dil[0], 0))  # (d0 + T, B, R)
            pads = dil[1:] + [0]
            step = self.cfg.dilation_cycle if self.checkpoint_activations else len(layers)
            skip = None
            for i in range(0, len(layers), step):
                args = (layers[i:i + step], pads[i:i + step], x, cond, self.recompute_gate, cdt)
                if self.checkpoint_activations and torch.is_grad_enabled():
                    x, part = checkpoint(_fused_block, *args, use_reentrant=False)
                else:
                    x, part = _fused_block(*args)
                skip = part if skip is None else skip + part  # (N, S)
        assert skip is not None  # a WaveNet has at least one layer
        logits = self.head(skip.view(T, B, -1).permute(1, 2, 0).contiguous())  # (B, A, T)
        return logits.float() if logits.dtype != skip.dtype else logits

    @property
    def residual_layers(self) -> list[ResidualLayer]:
        """The layers in order, typed."""
        return cast(list[ResidualLayer], list(self.layers))

    def head(self, skips: torch.Tensor) -> torch.Tensor:
        """Output head: the sum of all skips (B, S, T) -> logits (B, A, T)."""
        h = F.relu(self.out1(F.relu(skips)))  # (B, S, T)
        return self.out2(h)  # (B, A, T)

    @torch.no_grad()
    def export_weights(self) -> WaveNetWeights:
        """Flatten the parameters into the engine format (fp32, CPU, detached copies)."""
        layers = self.residual_layers
        residuals = [_present(lay.residual) for lay in layers[:-1]]

        def stack(tensors: list[torch.Tensor | None]) -> torch.Tensor:
            return torch.stack([_present(t).detach().float().cpu().clone() for t in tensors])

        return WaveNetWeights(
            dilations=tuple(self.cfg.dilations),
            embed=self.embed.weight.detach().float().cpu().clone(),
            # Conv1d weight (G, R, 2): tap 0 sees x[t - d], tap 1 sees x[t].
            dil_weight=stack([torch.cat([lay.dilated.weight[:, :, 0],
                                         lay.dilated.weight[:, :, 1]], 1) for lay in layers]),
            dil_bias=stack([lay.dilated.bias for lay in layers]),
            cond_weight=stack([lay.cond.weight for lay in layers]),
            res_weight=stack([res.weight[:, :, 0] for res in residuals]),
            res_bias=stack([res.bias for res in residuals]),
            skip_weight=stack([lay.skip.weight[:, :, 0] for lay in layers]),
            skip_bias=stack([lay.skip.bias for lay in layers]),
            out1_weight=self.out1.weight[:, :, 0].detach().float().cpu().clone(),
            out1_bias=_present(self.out1.bias).detach().float().cpu().clone(),
            out2_weight=self.out2.weight[:, :, 0].detach().float().cpu().clone(),
            out2_bias=_present(self.out2.bias).detach().float().cpu().clone(),
        )
