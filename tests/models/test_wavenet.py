"""WaveNet: shapes, causality, receptive field, conditioning, and the exported flat weights."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.models.weights import WaveNetWeights


def make_model(cfg: WaveNetConfig, seed: int = 0) -> WaveNet:
    torch.manual_seed(seed)
    return WaveNet(cfg).double().eval()  # float64: differences below are exact zeros or not


def random_inputs(cfg: WaveNetConfig, batch: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    codes = torch.randint(0, cfg.n_classes, (batch, length), generator=gen)
    cond = torch.rand(batch, cfg.n_cond, generator=gen, dtype=torch.float64)
    return codes, cond


def bumped(codes: torch.Tensor, t: int, n_classes: int) -> torch.Tensor:
    out = codes.clone()
    out[:, t] = (out[:, t] + 1) % n_classes
    return out


def test_config_derived_sizes(tiny_cfg: WaveNetConfig) -> None:
    assert tiny_cfg.dilations == [1, 2, 4, 1, 2]
    assert tiny_cfg.receptive_field == 11
    default = WaveNetConfig()
    assert default.dilations == [1, 2, 4, 8, 16, 32, 64, 128] * 2
    assert default.receptive_field == 511


def test_forward_shape(tiny_cfg: WaveNetConfig) -> None:
    model = WaveNet(tiny_cfg)
    codes = torch.randint(0, 16, (2, 37))
    logits = model(codes, torch.zeros(2, 3))
    assert logits.shape == (2, 16, 37) and logits.dtype == torch.float32


@pytest.mark.parametrize("t", [0, 7, 20, 29])
def test_causal(tiny_cfg: WaveNetConfig, t: int) -> None:
    model = make_model(tiny_cfg)
    codes, cond = random_inputs(tiny_cfg, 2, 30)
    with torch.no_grad():
        before = model(codes, cond)
        after = model(bumped(codes, t, 16), cond)
    torch.testing.assert_close(after[..., :t], before[..., :t], rtol=0, atol=1e-12)
    assert (after[..., t] - before[..., t]).abs().max() > 1e-6  # logits at t see input t


def test_receptive_field(tiny_cfg: WaveNetConfig) -> None:
    model = make_model(tiny_cfg)
    rf = tiny_cfg.receptive_field
    codes, cond = random_inputs(tiny_cfg, 2, rf + 10)
    t = rf + 9
    with torch.no_grad():
        base = model(codes, cond)[..., t]
        outside = model(bumped(codes, t - rf, 16), cond)[..., t]
        inside = model(bumped(codes, t - rf + 1, 16), cond)[..., t]
    torch.testing.assert_close(outside, base, rtol=0, atol=1e-12)
    assert (inside - base).abs().max() > 1e-9


def test_conditioning_changes_outputs_per_item(tiny_cfg: WaveNetConfig) -> None:
    model = make_model(tiny_cfg)
    codes, _ = random_inputs(tiny_cfg, 1, 25)
    eye = torch.eye(3, dtype=torch.float64)
    with torch.no_grad():
        a = model(codes, eye[:1])
        b = model(codes, eye[1:2])
        both = model(codes.repeat(2, 1), eye[:2])
    assert (a - b).abs().min() > 0  # every logit moves: the condition reaches every step
    torch.testing.assert_close(both, torch.cat([a, b]), rtol=0, atol=1e-12)


def reference_logits(w: WaveNetWeights, codes: list[int], cond: torch.Tensor) -> torch.Tensor:
    """The gate equations from ``weights.py``'s docstring, one sample at a time. -> (A, T)"""
    R, H = w.residual_channels, w.gate_channels // 2
    history = [[torch.zeros(R, dtype=w.embed.dtype) for _ in codes] for _ in w.dilations]
    out = []
    for t, code in enumerate(codes):
        x = w.embed[code]
        skip = torch.zeros(w.skip_channels, dtype=w.embed.dtype)
        for layer, d in enumerate(w.dilations):
            history[layer][t] = x
            past = history[layer][t - d] if t >= d else torch.zeros(R, dtype=x.dtype)
            z = w.dil_weight[layer] @ torch.cat([past, x]) + w.dil_bias[layer]
            z = z + w.cond_weight[layer] @ cond
            h = torch.tanh(z[:H]) * torch.sigmoid(z[H:])
            skip = skip + w.skip_weight[layer] @ h + w.skip_bias[layer]
            if layer < w.n_layers - 1:
                x = x + w.res_weight[layer] @ h + w.res_bias[layer]
        hidden = torch.relu(w.out1_weight @ torch.relu(skip) + w.out1_bias)
        out.append(w.out2_weight @ hidden + w.out2_bias)
    return torch.stack(out, dim=1)


def test_export_weights_matches_the_model(tiny_cfg: WaveNetConfig) -> None:
    model = make_model(tiny_cfg)
    w = model.export_weights()
    w.validate()
    assert w.dilations == (1, 2, 4, 1, 2)
    assert (w.n_layers, w.n_classes, w.residual_channels, w.gate_channels, w.skip_channels,
            w.n_cond, w.receptive_field) == (5, 16, 4, 6, 5, 3, 11)
    assert w.dil_weight.shape == (5, 6, 8) and w.res_weight.shape == (4, 4, 3)
    assert all(t.dtype == torch.float32 for t in w.tensors().values())
    codes, cond = random_inputs(tiny_cfg, 1, 24)
    with torch.no_grad():
        expected = model(codes, cond)[0].float()
    got = reference_logits(w, codes[0].tolist(), cond[0].float())
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_export_is_a_copy(tiny_cfg: WaveNetConfig) -> None:
    model = WaveNet(tiny_cfg)
    w = model.export_weights()
    w.embed.zero_()
    w.dil_weight.zero_()
    assert model.embed.weight.abs().sum() > 0
    assert model.layers[0].dilated.weight.abs().sum() > 0


@pytest.mark.parametrize("field, bad_shape", [
    ("dil_weight", (5, 6, 9)), ("cond_weight", (6, 6, 3)), ("res_weight", (4, 4, 4)),
    ("res_bias", (5, 4)), ("skip_weight", (5, 5, 6)), ("skip_bias", (5, 6)),
    ("out1_weight", (5, 4)), ("out2_weight", (15, 5)), ("out2_bias", (17,)),
])
def test_weights_reject_wrong_shapes(tiny_cfg: WaveNetConfig, field: str,
                                     bad_shape: tuple[int, ...]) -> None:
    w = WaveNet(tiny_cfg).export_weights()
    with pytest.raises(ValueError, match=re.escape(f"weight '{field}' has shape {bad_shape}")):
        dataclasses.replace(w, **{field: torch.zeros(bad_shape)})


@pytest.mark.parametrize("dilations", [(), (1, 0, 2, 1, 2)])
def test_weights_reject_bad_dilations(tiny_cfg: WaveNetConfig, dilations: tuple[int, ...]) -> None:
    w = WaveNet(tiny_cfg).export_weights()
    with pytest.raises(ValueError, match="dilations"):
        dataclasses.replace(w, dilations=dilations)


def test_weights_to_and_nbytes(tiny_cfg: WaveNetConfig) -> None:
    w = WaveNet(tiny_cfg).export_weights()
    L, A, R, G, S, C = 5, 16, 4, 6, 5, 3
    H = G // 2
    per_sample = (L * G * 2 * R + L * G + L * G * C + (L - 1) * (R * H + R) + L * (S * H + S)
                  + S * S + S + A * S + A + R)
    assert w.nbytes() == 4 * per_sample
    w64 = w.to(dtype=torch.float64)
    assert all(t.dtype == torch.float64 for t in w64.tensors().values())
    assert w64.nbytes() == 8 * per_sample
    assert w64.dilations == w.dilations
    torch.testing.assert_close(w64.out2_weight, w.out2_weight.double(), rtol=0, atol=0)
    assert w.embed.dtype == torch.float32  # the original is untouched
    assert w.to(device="cpu").embed.device == torch.device("cpu")


@pytest.mark.parametrize("field", ["n_classes", "residual_channels", "gate_channels",
                                   "skip_channels", "n_layers", "dilation_cycle", "n_cond"])
@pytest.mark.parametrize("value", [0, -2])
def test_config_rejects_non_positive(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"model.{field} must be positive, got {value}"):
        WaveNetConfig(**{field: value})


def test_config_rejects_odd_gate_channels() -> None:
    with pytest.raises(ValueError, match="model.gate_channels must be even, got 63"):
        WaveNetConfig(gate_channels=63)
