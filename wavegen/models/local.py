"""Local conditioning: the frame network that turns a plan of units into gate biases.

A plan is one unit id per frame of ``hop`` samples (``wavegen/units``). The frame network
embeds the ids, runs a few residual 1-D convolutions over frames (symmetric: a frame sees
``layers * (kernel // 2)`` frames back and ahead, since the plan is known before rendering)
and projects each frame, without a bias, to a gate bias for every layer of the WaveNet. The
WaveNet adds frame ``t // hop`` of that table to the gate pre-activation of position t, on
top of the global conditioning; the engines add the same table (a
:class:`~wavegen.models.weights.LocalBias`) step by step.

Unit id ``PAD`` (-1) marks a frame outside the plan. It acts exactly as the convolutions'
zero padding: the activations of such frames are zeroed after the embedding and after every
layer, so a window of a plan, padded with ``PAD`` where it runs past the plan's ends, gives
the same frames as the whole plan, and a padded frame's gate bias is zero.

Shapes: B batch, F frames, K units, E channels, L layers, G gate channels.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from wavegen.errors import WavegenError

PAD = -1
# The projection starts at this fraction of PyTorch's default scale: each frame's gate bias
# starts about ten times smaller than the gate pre-activations of a fresh model, so a fresh
# renderer starts close to the unconditioned network, and still has gradients everywhere.
PROJECTION_INIT = 0.1


def check_units(units: object, n_units: int) -> torch.Tensor:
    """``units`` as a plan the frame network reads: a (B, F) ``torch.long`` tensor with ids
    in ``[PAD, n_units)``, F >= 1.

    Raises:
        WavegenError: another type, dtype or shape, no frames, or an id out of range.
    """
    if not isinstance(units, torch.Tensor):
        raise WavegenError(f"units must be a (batch, frames) torch.long tensor, got "
                           f"{type(units).__name__}")
    if units.dtype != torch.long:
        raise WavegenError(f"units must be torch.long ids, got {units.dtype}")
    if units.dim() != 2 or units.shape[1] < 1:
        raise WavegenError(f"units must be (batch, frames) with at least one frame, got shape "
                           f"{tuple(units.shape)}")
    if bool(((units < PAD) | (units >= n_units)).any()):
        raise WavegenError(f"unit ids must be in [{PAD}, {n_units}) ({PAD}: outside the plan), "
                           f"got {int(units.min())}..{int(units.max())}")
    return units


class FrameNet(nn.Module):
    """Units (B, F) -> per-frame gate biases of every layer (B, F, L, G).

    Args:
        n_units: K, the unit vocabulary.
        channels: E, width of the embedding and of the convolutions.
        layers: residual convolutions over frames (0: each frame on its own).
        kernel: their width in frames (odd).
        n_layers: L, layers of the WaveNet it conditions.
        gate_channels: G, their gate width.
    """

    def __init__(self, n_units: int, channels: int, layers: int, kernel: int, n_layers: int,
                 gate_channels: int) -> None:
        super().__init__()
        self.n_layers, self.gate_channels = n_layers, gate_channels
        self.embed = nn.Embedding(n_units, channels)
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
                                   for _ in range(layers))
        self.proj = nn.Linear(channels, n_layers * gate_channels, bias=False)
        with torch.no_grad():
            self.proj.weight.mul_(PROJECTION_INIT)

    def forward(self, units: torch.Tensor) -> torch.Tensor:
        """units (B, F) long in [PAD, K) (not checked here: :func:`check_units`) ->
        (B, F, L, G)."""
        B, n_frames = units.shape
        keep = (units != PAD).unsqueeze(1).to(self.embed.weight.dtype)  # (B, 1, F)
        x = self.embed(units.clamp(min=0)).transpose(1, 2) * keep  # (B, E, F)
        for conv in self.convs:
            x = (x + conv(F.relu(x))) * keep  # (B, E, F)
        out = self.proj(x.transpose(1, 2))  # (B, F, L * G)
        return out.view(B, n_frames, self.n_layers, self.gate_channels)

