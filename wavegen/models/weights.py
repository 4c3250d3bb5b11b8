"""The flat weight format shared by the model (which exports it) and every engine.

All tensors are fp32 and stacked over layers so that kernels can index them directly.
L layers, A classes, R residual, G gate (= 2 H), S skip, C conditioning size.

=============  ================  ==================================================
field          shape             meaning
=============  ================  ==================================================
dilations      (L,) ints         dilation of layer l
embed          (A, R)            input embedding of the previous sample's code
dil_weight     (L, G, 2R)        dilated conv; columns [:R] see x[t-d], [R:] see x[t]
dil_bias       (L, G)            dilated conv bias
cond_weight    (L, G, C)         conditioning projection added to every gate
res_weight     (L-1, R, H)       residual 1x1 (the last layer has none)
res_bias       (L-1, R)
skip_weight    (L, S, H)         skip 1x1
skip_bias      (L, S)
out1_weight    (S, S)            output head, first 1x1 (after ReLU of the skip sum)
out1_bias      (S,)
out2_weight    (A, S)            output head, second 1x1 (after ReLU) -> logits
out2_bias      (A,)
=============  ================  ==================================================

Gate: ``z = dil_weight @ [x[t-d]; x[t]] + dil_bias + cond_weight @ c``;
``h = tanh(z[:H]) * sigmoid(z[H:])``; ``x <- x + res_weight @ h + res_bias``;
``skip += skip_weight @ h + skip_bias``;
``logits = out2 @ relu(out1 @ relu(skip) + out1_bias) + out2_bias``.

Local conditioning (a plan at frame rate) is not part of these weights: the model's frame
network turns a plan into a :class:`LocalBias` table of per-frame, per-layer gate biases, and
every engine adds ``table[:, n // hop]`` to the gate pre-activations of its step ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from wavegen.errors import WavegenError


@dataclass
class WaveNetWeights:
    dilations: tuple[int, ...]
    embed: torch.Tensor
    dil_weight: torch.Tensor
    dil_bias: torch.Tensor
    cond_weight: torch.Tensor
    res_weight: torch.Tensor
    res_bias: torch.Tensor
    skip_weight: torch.Tensor
    skip_bias: torch.Tensor
    out1_weight: torch.Tensor
    out1_bias: torch.Tensor
    out2_weight: torch.Tensor
    out2_bias: torch.Tensor

    def __post_init__(self) -> None:
        self.validate()

    @property
    def n_layers(self) -> int:
        return len(self.dilations)

    @property
    def n_classes(self) -> int:
        return int(self.embed.shape[0])

    @property
    def residual_channels(self) -> int:
        return int(self.embed.shape[1])

    @property
    def gate_channels(self) -> int:
        return int(self.dil_bias.shape[1])

    @property
    def skip_channels(self) -> int:
        return int(self.out1_bias.shape[0])

    @property
    def n_cond(self) -> int:
        return int(self.cond_weight.shape[2])

    @property
    def receptive_field(self) -> int:
        return sum(self.dilations) + 1

    def validate(self) -> None:
        """Check every tensor's shape against the others; raise ValueError naming the field."""
        L = len(self.dilations)
        if L < 1 or any(int(d) < 1 for d in self.dilations):
            raise ValueError(f"dilations must be >= 1 and non-empty, got {self.dilations}")
        A, R = self.embed.shape
        G = self.dil_bias.shape[-1]
        H, S, C = G // 2, self.out1_bias.shape[0], self.cond_weight.shape[-1]
        expected = {
            "embed": (A, R), "dil_weight": (L, G, 2 * R), "dil_bias": (L, G),
            "cond_weight": (L, G, C), "res_weight": (L - 1, R, H), "res_bias": (L - 1, R),
            "skip_weight": (L, S, H), "skip_bias": (L, S), "out1_weight": (S, S),
            "out1_bias": (S,), "out2_weight": (A, S), "out2_bias": (A,),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != tuple(shape):
                raise ValueError(
                    f"weight '{name}' has shape {got}, expected {tuple(shape)} "
                    f"(L={L}, A={A}, R={R}, G={G}, S={S}, C={C})"
                )
        if G % 2:
            raise ValueError(f"gate channels must be even, got {G}")

    def gate_biases(self, cond: torch.Tensor) -> torch.Tensor:
        """Each layer's gate bias with the conditioning projected in: cond (B, C) -> (B, L, G).
        The engines compute it once per conditioning (at construction and in ``set_cond``)."""
        return torch.stack([self.dil_bias[i] + cond @ self.cond_weight[i].T
                            for i in range(self.n_layers)], 1)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "dilations"}

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> WaveNetWeights:
        moved = {k: v.to(device=device, dtype=dtype) for k, v in self.tensors().items()}
        return WaveNetWeights(dilations=self.dilations, **moved)

    def nbytes(self) -> int:
        """Bytes of weights read per generated sample (the embedding contributes one row)."""
        per_sample = sum(t.numel() * t.element_size() for k, t in self.tensors().items()
                         if k != "embed")
        return per_sample + self.embed.shape[1] * self.embed.element_size()


@dataclass
class LocalBias:
    """Local conditioning as the engines take it: per-frame gate biases, repeated over a hop.

    Attributes:
        table: (B, F, L, G) float: frame f's bias for every layer's gate pre-activation,
            added to the global gate bias (``gate_biases``). It is computed once per plan by
            the model (``WaveNet.local_bias``), never per sample.
        hop: samples per frame.

    Alignment: step ``n`` of an engine (counted from its fresh, silent state; primer steps
    included) reads frame ``n // hop``. Step ``n`` is fed sample ``n - 1`` (silence for
    ``n = 0``) and predicts sample ``n``, so frame f conditions the prediction of samples
    ``f * hop .. (f + 1) * hop - 1``: the frame of the audio the units were extracted from.
    ``WaveNet.forward`` uses the same rule per position (``t // hop``). Stepping past the
    last frame (``n >= F * hop``) is an error.
    """

    table: torch.Tensor
    hop: int

    def __post_init__(self) -> None:
        if isinstance(self.hop, bool) or not isinstance(self.hop, int) or self.hop < 1:
            raise WavegenError(f"local conditioning hop must be an integer >= 1, got {self.hop!r}")
        if not isinstance(self.table, torch.Tensor) or self.table.dim() != 4:
            got = getattr(self.table, "shape", type(self.table).__name__)
            raise WavegenError("local conditioning table must be a (batch, frames, layers, "
                               f"gate) tensor, got {got}")
        if self.table.shape[1] < 1:
            raise WavegenError("local conditioning table has no frames")

    @property
    def n_frames(self) -> int:
        return int(self.table.shape[1])

    @property
    def n_samples(self) -> int:
        """Steps the table covers: ``F * hop``."""
        return self.n_frames * self.hop

    def check(self, w: WaveNetWeights, rows: int) -> None:
        """Raise WavegenError unless the table fits ``rows`` batch rows of weights ``w``."""
        want = (rows, self.n_frames, w.n_layers, w.gate_channels)
        if tuple(self.table.shape) != want:
            raise WavegenError(f"local conditioning table has shape {tuple(self.table.shape)}, "
                             f"expected (batch {rows}, frames, layers {w.n_layers}, gate "
                             f"{w.gate_channels})")
        if not _all_finite(self.table):
            raise WavegenError("local conditioning table holds inf or NaN")

    def frame(self, n: int) -> torch.Tensor:
        """The (B, L, G) bias of step ``n``; raises WavegenError past the last frame."""
        f = n // self.hop
        if f >= self.n_frames:
            raise WavegenError(f"the plan covers {self.n_samples} samples ({self.n_frames} frames "
                             f"of {self.hop}); step {n} is past its end")
        return self.table[:, f]

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = torch.float32) -> LocalBias:
        return LocalBias(self.table.to(device=device, dtype=dtype), self.hop)

    def repeat_rows(self) -> LocalBias:
        """The table for a guided engine's 2B rows: the unconditional twins read the same
        plan (guidance acts on the global label)."""
        return LocalBias(torch.cat([self.table, self.table]), self.hop)


def _all_finite(t: torch.Tensor) -> bool:
    """Whether a tensor holds no inf or NaN. A float CPU tensor is tested by numpy: the same
    test in torch runs on torch's thread pool, whose idle workers then spin for milliseconds
    on the cores that the ``cpu`` engine's kernel, started next, runs on."""
    if t.device.type == "cpu" and t.dtype in (torch.float16, torch.float32, torch.float64):
        return bool(np.isfinite(t.detach().numpy()).all())
    return bool(torch.isfinite(t).all())
