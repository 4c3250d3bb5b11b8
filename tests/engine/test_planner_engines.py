"""Every engine serves a planner too: a WaveNet over K + 1 unit codes (an odd class count, not
256) with a long dilation cycle, held to the parallel forward and to the reference engine the
way the sample-level shapes are (tests/engine/test_exactness.py)."""

import pytest
import torch
from engine_models import random_model

from wavegen.engine import ENGINES, generate, teacher_forced_logits
from wavegen.models import WaveNetConfig
from wavegen.units.codes import start_code

# K = 64 units + the start symbol; dilations 1 .. 32 twice (a receptive field of 127 frames).
PLANNER = WaveNetConfig(n_classes=65, n_layers=12, dilation_cycle=6, residual_channels=8,
                        gate_channels=12, skip_channels=10, n_cond=10)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_planner_teacher_forced_logits_equal_parallel_forward(engine):
    model = random_model(PLANNER, 11)
    T = PLANNER.receptive_field + 30
    codes = torch.randint(0, PLANNER.n_classes, (2, T))
    codes[:, 0] = start_code(64)
    cond = torch.rand(2, PLANNER.n_cond)
    with torch.no_grad():
        expected = model(codes, cond)  # (B, 65, T)
    got = teacher_forced_logits(model.export_weights(), cond, codes, engine=engine)
    assert got.shape == expected.shape == (2, 65, T)
    err = (got - expected).abs().max().item()
    assert err < 1e-4, f"{engine}: max |logit error| {err}"


@pytest.mark.parametrize("guidance,primer", [(1.0, False), (3.0, True)])
def test_planner_samples_identically_on_every_engine(guidance, primer):
    model = random_model(PLANNER, 12)
    w = model.export_weights()
    B, N = 2, PLANNER.receptive_field + 40
    cond = torch.eye(PLANNER.n_cond)[:B]
    uniforms = torch.rand(B, N, generator=torch.Generator().manual_seed(5))
    kw = {"guidance": guidance, "temperature": 0.8, "top_p": 0.95}
    if primer:
        kw["primer"] = torch.randint(0, 65, (B, 30), generator=torch.Generator().manual_seed(6))
    runs = {name: generate(w, cond, N, engine=name, uniforms=uniforms, **kw)
            for name in ENGINES}
    ref = runs.pop("reference")
    assert ref.max() < 65 and len(set(ref.flatten().tolist())) > 10
    for name, codes in runs.items():
        mismatch = (codes != ref).nonzero()
        assert mismatch.numel() == 0, f"{name} differs from reference first at {mismatch[0]}"
