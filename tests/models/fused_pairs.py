"""Fused and reference WaveNets with the same weights, inputs and gradient helpers, shared by
the model tests."""

from __future__ import annotations

import torch

from wavegen.models.wavenet import WaveNet, WaveNetConfig

# Odd, distinct sizes; dilations 1, 2, 4, 1, 2 (receptive field 11) or 1, 2, 1 with R = 1 ...
CONFIGS = {
    "tiny": WaveNetConfig(n_classes=16, residual_channels=4, gate_channels=6, skip_channels=5,
                          n_layers=5, dilation_cycle=3, n_cond=3),
    "one-layer": WaveNetConfig(n_classes=7, residual_channels=3, gate_channels=2,
                               skip_channels=4, n_layers=1, dilation_cycle=1, n_cond=2),
    "wide": WaveNetConfig(n_classes=32, residual_channels=9, gate_channels=14, skip_channels=11,
                          n_layers=7, dilation_cycle=4, n_cond=5),
}
# With local conditioning: hops that do not divide the lengths below, a frame network of one
# wide layer, and one of none at one frame per sample.
LOCAL_CONFIGS = {
    "tiny-local": WaveNetConfig(n_classes=16, residual_channels=4, gate_channels=6,
                                skip_channels=5, n_layers=5, dilation_cycle=3, n_cond=3,
                                n_units=7, unit_hop=4, unit_channels=5, unit_layers=2,
                                unit_kernel=3),
    "wide-local": WaveNetConfig(n_classes=32, residual_channels=9, gate_channels=14,
                                skip_channels=11, n_layers=7, dilation_cycle=4, n_cond=5,
                                n_units=11, unit_hop=5, unit_channels=6, unit_layers=1,
                                unit_kernel=5),
    "per-sample": WaveNetConfig(n_classes=7, residual_channels=3, gate_channels=2,
                                skip_channels=4, n_layers=2, dilation_cycle=2, n_cond=2,
                                n_units=3, unit_hop=1, unit_channels=2, unit_layers=0,
                                unit_kernel=1),
}
# (batch, length): shorter than, equal to and longer than the receptive field.
SHAPES = [(1, 1), (1, 6), (3, 11), (2, 29)]
# (batch, length, offset into the plan): lengths that hops 4 and 5 divide (20) and do not
LOCAL_SHAPES = [(1, 1, 0), (1, 6, 2), (3, 11, 1), (2, 20, 0), (2, 29, 3)]
MODES = {
    "store": {"recompute_gate": False},
    "recompute": {"recompute_gate": True},
    "checkpoint": {"checkpoint_activations": True},
}


def pair(cfg: WaveNetConfig, dtype: torch.dtype, **fused: object) -> tuple[WaveNet, WaveNet]:
    """(fused model, reference model) with the same fresh random weights."""
    torch.manual_seed(0)
    ref = WaveNet(cfg, impl="reference").to(dtype)
    with torch.no_grad():  # non-zero biases everywhere, so a dropped bias shows
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    fast = WaveNet(cfg, impl="fused", **fused).to(dtype)
    fast.load_state_dict(ref.state_dict())
    return fast, ref


def run(model: WaveNet, codes: torch.Tensor, cond: torch.Tensor, weight: torch.Tensor,
        units: torch.Tensor | None = None,
        offset: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits and the gradients of a weighted sum of them w.r.t. parameters and ``cond``."""
    model.zero_grad(set_to_none=True)
    cond = cond.clone().requires_grad_(True)
    logits = model(codes, cond, units, offset)  # (B, A, T)
    (logits * weight).sum().backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    grads["cond"] = cond.grad
    return logits.detach(), grads


def inputs(cfg: WaveNetConfig, batch: int, length: int,
           dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(batch * 100 + length)
    codes = torch.randint(0, cfg.n_classes, (batch, length), generator=gen)
    cond = torch.rand(batch, cfg.n_cond, generator=gen, dtype=dtype)
    weight = torch.randn(batch, cfg.n_classes, length, generator=gen, dtype=dtype)
    return codes, cond, weight


def plan(cfg: WaveNetConfig, batch: int, length: int, offset: int) -> torch.Tensor:
    """(B, F) unit ids for ``length`` positions from frame ``offset``, with two frames more
    than they read and about a quarter of the frames -1 (outside the plan)."""
    gen = torch.Generator().manual_seed(batch * 1000 + length * 10 + offset)
    n_frames = offset + -(-length // cfg.unit_hop) + 2
    units = torch.randint(0, cfg.n_units, (batch, n_frames), generator=gen)  # (B, F)
    return units.masked_fill(torch.rand(batch, n_frames, generator=gen) < 0.25, -1)


def assert_grads_close(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor],
                       rel: float) -> None:
    assert got.keys() == expected.keys()
    for name, want in expected.items():
        assert got[name] is not None, f"no gradient for {name}"
        scale = want.abs().max().item() + 1e-30
        err = (got[name] - want).abs().max().item()
        assert err <= rel * scale, f"{name}: max error {err:.3g} vs scale {scale:.3g}"
