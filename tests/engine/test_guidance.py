"""Classifier-free guidance: uncond + s * (cond - uncond) logits, batched in one pass."""

import pytest
import torch
from engine_models import SHAPES, random_model

from wavegen.audio import silence_code
from wavegen.engine import ENGINES, generate
from wavegen.engine.sampling import sample_from_logits
from wavegen.errors import WavegenError


@pytest.mark.parametrize("scale", [0.0, 2.5])
def test_guided_samples_follow_the_combined_logits(scale):
    cfg = SHAPES[0]
    model = random_model(cfg, 8)
    cond = torch.rand(2, cfg.n_cond)
    N = 60
    u = torch.rand(2, N, generator=torch.Generator().manual_seed(3))
    codes = generate(model, cond, N, engine="cached", uniforms=u, guidance=scale)
    inputs = torch.cat([torch.full((2, 1), silence_code()), codes[:, :-1]], dim=1)
    with torch.no_grad():
        conditional = model(inputs, cond)  # (B, A, N)
        unconditional = model(inputs, torch.zeros_like(cond))
    guided = unconditional + scale * (conditional - unconditional)
    resampled = torch.stack([sample_from_logits(guided[:, :, t], u[:, t]) for t in range(N)], 1)
    assert torch.equal(resampled, codes)


def test_guidance_zero_is_unconditional_and_one_is_plain():
    cfg = SHAPES[0]
    w = random_model(cfg, 9).export_weights()
    cond = torch.rand(2, cfg.n_cond)
    u = torch.rand(2, 40, generator=torch.Generator().manual_seed(4))
    assert torch.equal(generate(w, cond, 40, uniforms=u, guidance=0.0),
                       generate(w, torch.zeros_like(cond), 40, uniforms=u))
    assert torch.equal(generate(w, cond, 40, uniforms=u, guidance=1.0),
                       generate(w, cond, 40, uniforms=u))


def test_every_engine_agrees_under_guidance():
    cfg = SHAPES[1]
    w = random_model(cfg, 10).export_weights()
    cond = torch.eye(cfg.n_cond)[:3]
    N = cfg.receptive_field + 20
    u = torch.rand(3, N, generator=torch.Generator().manual_seed(5))
    runs = {name: generate(w, cond, N, engine=name, uniforms=u, guidance=3.0) for name in ENGINES}
    ref = runs.pop("reference")
    for name, codes in runs.items():
        assert torch.equal(codes, ref), name


def test_negative_guidance_is_refused():
    w = random_model(SHAPES[0], 11).export_weights()
    with pytest.raises(WavegenError, match="guidance must be a finite number >= 0"):
        generate(w, torch.rand(1, 4), 5, guidance=-1.0)
    for bad in (float("inf"), float("nan")):
        with pytest.raises(WavegenError, match="guidance must be a finite number >= 0"):
            generate(w, torch.rand(1, 4), 5, guidance=bad)
