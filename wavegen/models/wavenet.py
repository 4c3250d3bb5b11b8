"""WaveNet with global and local conditioning, parallel over time (training and teacher
forcing).

Shapes: B batch, T time, A classes (mu-law), R residual channels, G gate channels (the dilated
convolution's output, split into a tanh half and a sigmoid half of H = G / 2 each), S skip
channels, C conditioning size (genre vocabulary or tag vocabulary), L layers, F frames of a
plan of units (local conditioning, ``local.py``).

At time t the logits predict sample t + 1 from samples ``<= t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, cast

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from wavegen.errors import WavegenError
from wavegen.models.fused import compute_dtype, residual_layer
from wavegen.models.local import FrameNet, check_units
from wavegen.models.weights import LocalBias, WaveNetWeights

IMPLS = ("fused", "reference")
PLAN_BLOCK = 32  # frames of a plan the frame network computes at once for the engines
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
        n_units: K, the unit vocabulary of local conditioning (a plan of units per frame);
            0: none, the network is globally conditioned only. In a config, any value > 0
            turns it on and the trainer sets K and ``unit_hop`` from the unit tables.
        unit_hop: samples per frame of the plan.
        unit_channels: width of the frame network (``local.py``).
        unit_layers: its residual convolutions over frames.
        unit_kernel: their width in frames (odd, centred: the plan is known ahead).

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
    n_units: int = 0
    unit_hop: int = 160
    unit_channels: int = 64
    unit_layers: int = 2
    unit_kernel: int = 3

    def __post_init__(self) -> None:
        for name in ("n_classes", "residual_channels", "gate_channels", "skip_channels",
                     "n_layers", "dilation_cycle", "n_cond"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"model.{name} must be positive, got {getattr(self, name)}")
        if self.gate_channels % 2:
            raise ValueError(f"model.gate_channels must be even, got {self.gate_channels}")
        for name, low in (("n_units", 0), ("unit_hop", 1), ("unit_channels", 1),
                          ("unit_layers", 0), ("unit_kernel", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"model.{name} must be an integer >= {low}, got {value!r}")
        if self.unit_kernel % 2 == 0:
            raise ValueError(f"model.unit_kernel must be odd (centred on its frame), got "
                             f"{self.unit_kernel}")

    @property
    def dilations(self) -> list[int]:
        return [2 ** (i % self.dilation_cycle) for i in range(self.n_layers)]

    @property
    def receptive_field(self) -> int:
        """Number of past input samples (including the current one) that reach the output."""
        return sum(self.dilations) + 1

    @property
    def unit_context(self) -> int:
        """Frames of the plan the frame network reads on each side of a frame."""
        return self.unit_layers * (self.unit_kernel // 2)


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
        self, x: torch.Tensor, cond: torch.Tensor, local: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, R, T), cond: (B, C), local: None or (B, G, T) gate bias of each position ->
        (residual out (B, R, T), skip (B, S, T))."""
        z = self.dilated(F.pad(x, (self.dilation, 0)))  # (B, G, T)
        z = z + self.cond(cond).unsqueeze(-1)  # (B, G, T)
        if local is not None:
            z = z + local  # (B, G, T)
        a, b = z.chunk(2, dim=1)  # (B, H, T) each
        h = torch.tanh(a) * torch.sigmoid(b)  # (B, H, T)
        skip = self.skip(h)  # (B, S, T)
        out = x + self.residual(h) if self.residual is not None else x  # (B, R, T)
        return out, skip

    def fused(self, xp: torch.Tensor, skip: torch.Tensor, cond: torch.Tensor,
              frames: torch.Tensor | None, hop: int, pad_out: int, recompute: bool,
              cdt: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The same layer on the fused path (time-major): xp (d + T, B, R) left-padded input,
        skip (N, S) running sum or (S,) to start one, frames None or (F, B, G) the local gate
        bias of frames of ``hop`` time steps -> (next layer's padded input (pad_out + T, B, R),
        or None after the last layer; skip sum (N, S)). See
        :func:`wavegen.models.fused.residual_layer`."""
        res = self.residual
        bias = (self.cond(cond) + self.dilated.bias).unsqueeze(0)  # (1, B, G)
        return residual_layer(
            xp, skip, bias if frames is None else bias + frames, hop, self.dilated.weight,
            None if res is None else res.weight[:, :, 0], None if res is None else res.bias,
            self.skip.weight[:, :, 0], self.dilation, pad_out, recompute, cdt)


def _present(x: T | None) -> T:
    """``x``, known not to be None here (a bias of a layer built with one, the residual 1x1
    of any layer but the last)."""
    assert x is not None
    return x


def _fused_block(layers: list[ResidualLayer], pads: list[int], x: torch.Tensor,
                 cond: torch.Tensor, frames: torch.Tensor | None, hop: int, recompute: bool,
                 cdt: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Layers in sequence on the fused path: x (d0 + T, B, R), frames None or (F, B, L', G)
    these layers' local gate biases -> (next input or None, (N, S) their skip sum)."""
    # A plain sum: the gradient of stack(...).sum(0) reaches each bias as a view of one shared
    # buffer, and accumulating a second backward into such .grad tensors adds up L times.
    skip = sum((_present(layer.skip.bias) for layer in layers[1:]),
               _present(layers[0].skip.bias))  # (S,)
    out: torch.Tensor | None = x
    for i, (layer, pad) in enumerate(zip(layers, pads, strict=True)):
        assert out is not None  # only the last layer of the stack returns None
        out, skip = layer.fused(out, skip, cond, None if frames is None else frames[:, :, i],
                                hop, pad, recompute, cdt)
    return out, skip


class WaveNet(nn.Module):
    """Genre/tag-conditioned WaveNet over mu-law codes, optionally also conditioned on a plan
    of units per frame (``cfg.n_units`` > 0: the frame network ``frame_net``, ``local.py``).

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
        self.frame_net = (FrameNet(cfg.n_units, cfg.unit_channels, cfg.unit_layers,
                                   cfg.unit_kernel, cfg.n_layers, cfg.gate_channels)
                          if cfg.n_units > 0 else None)

    def forward(self, codes: torch.Tensor, cond: torch.Tensor, units: torch.Tensor | None = None,
                offset: int = 0) -> torch.Tensor:
        """Logits for the next sample at every position.

        Args:
            codes: (B, T) long inputs.
            cond: (B, C) float global conditioning.
            units: (B, F) long plan (ids in [-1, K), -1 outside the plan) of a model with
                local conditioning; None for one without.
            offset: the plan's frame of position 0: position t adds frame
                ``offset + t // unit_hop`` of the frame network's table to every layer's gate
                pre-activation (so F >= offset + ceil(T / unit_hop)). A window of a plan
                starts ``offset`` frames early, so the frame network sees that much context.

        Returns:
            (B, A, T) logits.

        Raises:
            WavegenError: units missing for a model with local conditioning, given to one
                without, malformed, or too short for T positions from ``offset``.
        """
        table = self._frames(codes, units, offset)  # (B, ceil(T / hop), L, G) or None
        if self.impl == "fused":
            return self._fused_forward(codes, cond, table)
        x = self.embed(codes).transpose(1, 2)  # (B, R, T)
        skips = torch.zeros(
            x.shape[0], self.cfg.skip_channels, x.shape[2], dtype=x.dtype, device=x.device
        )  # (B, S, T)
        per_t = None  # (B, T, L, G): the frame each position reads
        if table is not None:
            per_t = table[:, torch.arange(codes.shape[1], device=x.device) // self.cfg.unit_hop]
        for i, layer in enumerate(self.residual_layers):
            x, s = layer(x, cond, None if per_t is None else per_t[:, :, i].transpose(1, 2))
            skips = skips + s
        return self.head(skips)

    def _frames(self, codes: torch.Tensor, units: torch.Tensor | None,
                offset: int) -> torch.Tensor | None:
        """The frame network's gate biases of the frames that positions 0 .. T - 1 read,
        frames ``offset .. offset + ceil(T / hop) - 1``: (B, ceil(T / hop), L, G); None
        without local conditioning. Checks ``units`` and ``offset`` (see :meth:`forward`)."""
        K, hop = self.cfg.n_units, self.cfg.unit_hop
        if units is None:
            if self.frame_net is not None:
                raise WavegenError(f"this model is conditioned on a plan of {K} units per "
                                   f"{hop}-sample frame: pass units (batch, frames) too")
            return None
        if self.frame_net is None:
            raise WavegenError("this model has no local conditioning (model.n_units 0): call "
                               "it without units")
        check_units(units, K)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise WavegenError(f"the offset into the plan must be an integer >= 0, got "
                               f"{offset!r}")
        B, T = codes.shape
        need = offset + -(-T // hop)
        if units.shape[0] != B or units.shape[1] < need:
            raise WavegenError(f"units of shape {tuple(units.shape)} do not cover {B} rows of "
                               f"{T} positions from frame {offset}: need (batch {B}, frames >= "
                               f"{need}) at {hop} samples per frame")
        return self.frame_net(units)[:, offset:need]  # (B, ceil(T / hop), L, G)

    @torch.no_grad()
    def local_bias(self, units: torch.Tensor) -> LocalBias:
        """The engines' local conditioning for a plan: units (B, F) long in [-1, K) ->
        :class:`LocalBias` with the frame network's table (B, F, L, G), float32 on the
        model's device, and ``unit_hop``; engine step n reads frame ``n // unit_hop``, as
        position n does in :meth:`forward` with offset 0. Frames marked -1 get zero bias.
        (The frame network has no training-time behaviour: no dropout, no batch statistics.)

        The table is computed in blocks of ``PLAN_BLOCK`` frames (:meth:`frame_blocks`), so
        a plan that grows while it plays gets, frame for frame and bit for bit, the table
        of the whole plan.

        Raises:
            WavegenError: a model without local conditioning, or malformed units.
        """
        if self.frame_net is None:
            raise WavegenError("this model has no local conditioning (model.n_units 0): it "
                               "takes no plan of units")
        n_frames = check_units(units, self.cfg.n_units).shape[1]
        table = self.frame_blocks(units, 0, -(-n_frames // PLAN_BLOCK))
        return LocalBias(table[:, :n_frames], self.cfg.unit_hop)

    @torch.no_grad()
    def frame_blocks(self, units: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """The frame network's table of blocks ``first .. last - 1`` of a plan (frames
        ``first * PLAN_BLOCK .. last * PLAN_BLOCK - 1``): (B, (last - first) * PLAN_BLOCK,
        L, G) float32. Block k is computed from the window of units ``k * PLAN_BLOCK -
        unit_context .. (k + 1) * PLAN_BLOCK + unit_context - 1`` (-1 outside ``units``), one
        window at a time, so its values depend on those units only, not on the plan's length
        or on how many blocks are asked for at once.

        Raises:
            WavegenError: a model without local conditioning, or malformed units.
        """
        if self.frame_net is None:
            raise WavegenError("this model has no local conditioning (model.n_units 0): it "
                               "takes no plan of units")
        units = check_units(units, self.cfg.n_units).to(self.embed.weight.device)
        ctx, (B, n_frames) = self.cfg.unit_context, units.shape
        parts = []
        with torch.autocast(units.device.type, enabled=False):
            for k in range(first, last):
                lo, hi = k * PLAN_BLOCK - ctx, (k + 1) * PLAN_BLOCK + ctx
                window = torch.full((B, hi - lo), -1, dtype=torch.long, device=units.device)
                a, b = max(lo, 0), min(hi, n_frames)
                if b > a:
                    window[:, a - lo:b - lo] = units[:, a:b]
                parts.append(self.frame_net(window)[:, ctx:ctx + PLAN_BLOCK].float())
        if not parts:
            return torch.zeros(B, 0, self.cfg.n_layers, self.cfg.gate_channels,
                               device=units.device)
        return torch.cat(parts, 1)  # (B, (last - first) * PLAN_BLOCK, L, G)

    def _fused_forward(self, codes: torch.Tensor, cond: torch.Tensor,
                       table: torch.Tensor | None) -> torch.Tensor:
        """The forward on the fused path: codes (B, T) long, cond (B, C), table None or
        (B, ceil(T / hop), L, G) the frames' local gate biases -> (B, A, T).

        Under autocast the residual stack computes in the autocast dtype with float32 sums
        (``fused.py``) and the output head runs under the caller's autocast; the logits are
        returned as float32 so the loss is computed in float32."""
        layers, dil = self.residual_layers, self.cfg.dilations
        B, T = codes.shape
        device = codes.device
        cdt = compute_dtype(device, self.embed.weight.dtype)
        # Frame-major like the activations: layer i's bias is the (F, B, G) view [:, :, i].
        frames = None if table is None else table.transpose(0, 1)  # (F, B, L, G)
        hop = T if table is None else self.cfg.unit_hop
        # The stack handles its own casts: autocast off inside it, so the conditioning
        # projection, the biases and the sums stay in the parameters' dtype.
        with torch.autocast(device.type, enabled=False):
            x = self.embed(codes.t())  # (T, B, R)
            x = F.pad(x, (0, 0, 0, 0, dil[0], 0))  # (d0 + T, B, R)
            pads = dil[1:] + [0]
            step = self.cfg.dilation_cycle if self.checkpoint_activations else len(layers)
            skip = None
            for i in range(0, len(layers), step):
                args = (layers[i:i + step], pads[i:i + step], x, cond,
                        None if frames is None else frames[:, :, i:i + step], hop,
                        self.recompute_gate, cdt)
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
