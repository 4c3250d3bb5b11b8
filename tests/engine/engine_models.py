"""Small random WaveNets shared by the engine tests."""

import torch

from wavegen.models import WaveNet, WaveNetConfig

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
