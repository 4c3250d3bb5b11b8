"""Small random WaveNets shared by the engine tests."""

import torch

from wavegen.models import WaveNet, WaveNetConfig
from wavegen.models.weights import LocalBias

SHAPES = [
    WaveNetConfig(n_layers=6, dilation_cycle=3, residual_channels=8, gate_channels=12,
                  skip_channels=10, n_cond=4),
    WaveNetConfig(n_layers=10, dilation_cycle=5, residual_channels=16, gate_channels=32,
                  skip_channels=24, n_cond=10),
]


def random_model(cfg: WaveNetConfig, seed: int) -> WaveNet:
    torch.manual_seed(seed)
    model = WaveNet(cfg).eval()
    with torch.no_grad():  # larger than default init, so errors would show
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def random_plan(cfg: WaveNetConfig, rows: int, steps: int, hop: int, seed: int,
                spare_frames: int = 0) -> LocalBias:
    """A random local-conditioning plan covering ``steps`` steps (and ``spare_frames`` more
    frames), large enough to move the logits by far more than the tolerances."""
    frames = -(-steps // hop) + spare_frames
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(rows, frames, cfg.n_layers, cfg.gate_channels, generator=gen)
    return LocalBias(table, hop)
