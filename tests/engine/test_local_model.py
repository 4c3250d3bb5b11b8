"""The front door given a locally conditioned WaveNet and its plan of units: every engine
follows ``model(codes, cond, units)`` and samples what the reference samples, and ``units=``
is the same as passing ``local=model.local_bias(units)``."""

import pytest
import torch
from engine_models import random_model

from wavegen.engine import ENGINES, forward_weights, generate, teacher_forced_logits
from wavegen.engine.local import local_positions
from wavegen.errors import WavegenError
from wavegen.models import WaveNetConfig

CFG = WaveNetConfig(n_layers=6, dilation_cycle=3, residual_channels=8, gate_channels=12,
                    skip_channels=10, n_cond=4, n_units=5, unit_hop=7)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Per-sample torch ops are tiny: one intra-op thread (two spin against other work)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    return random_model(CFG, 60)


def _inputs(batch, T, seed):
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, CFG.n_classes, (batch, T), generator=gen)
    units = torch.randint(-1, CFG.n_units, (batch, -(-T // CFG.unit_hop)), generator=gen)
    return codes, torch.rand(batch, CFG.n_cond, generator=gen), units


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("batch", [1, 3])
def test_teacher_forced_logits_equal_the_model_with_units(model, engine, batch):
    codes, cond, units = _inputs(batch, CFG.receptive_field + 40, batch)
    with torch.no_grad():
        expected = model(codes, cond, units)  # (B, A, T)
        assert (expected - model(codes, cond, torch.full_like(units, -1))).abs().max() > 0.1
    got = teacher_forced_logits(model, cond, codes, engine, units=units)
    assert (got - expected).abs().max() < 1e-4
    # The exported weights and the model's table give the same parallel forward.
    plan = model.local_bias(units)
    again = forward_weights(model.export_weights(), codes, cond,
                            local_positions(plan, codes.shape[1]))
    assert (again - expected).abs().max() < 1e-4


@pytest.mark.parametrize("engine", sorted(set(ENGINES) - {"reference"}))
def test_units_sample_like_the_reference_and_like_their_table(model, engine):
    n, P = 50, 9
    codes, cond, units = _inputs(2, P + n, 7)
    primer = codes[:, :P]
    u = torch.rand(2, n, generator=torch.Generator().manual_seed(8))
    kw = {"uniforms": u, "guidance": 2.0, "top_p": 0.9, "primer": primer, "chunk_size": 11}
    ref = generate(model, cond, n, engine="reference", units=units, **kw)
    assert torch.equal(generate(model, cond, n, engine=engine, units=units, **kw), ref)
    w = model.export_weights()
    assert torch.equal(generate(w, cond, n, engine=engine, local=model.local_bias(units), **kw),
                       ref)
    assert not torch.equal(generate(model, cond, n, engine="reference",
                                    units=torch.full_like(units, -1), **kw), ref)


@pytest.mark.parametrize("units, message", [
    (torch.full((2, 8), 5), r"unit ids must be in \[-1, 5\)"),  # id K: out of range
    (torch.full((2, 8), -2), r"unit ids must be in \[-1, 5\)"),
    (torch.zeros(2, 8), "units must be torch.long"),
    (torch.zeros(3, 8, dtype=torch.long), "units have 3 rows, the conditioning 2"),
    (torch.zeros(8, dtype=torch.long), r"units must be \(batch, frames\)"),
    (torch.zeros(2, 0, dtype=torch.long), "at least one frame"),
    ([[1]], "units must be a"),
])
def test_bad_units_are_refused(model, units, message):
    cond = torch.rand(2, CFG.n_cond)
    with pytest.raises(WavegenError, match=message):
        generate(model, cond, 20, engine="cpu", units=units)


def test_a_plan_of_units_shorter_than_the_request_is_refused(model):
    cond = torch.rand(2, CFG.n_cond)
    units = torch.zeros(2, 3, dtype=torch.long)  # 21 steps
    with pytest.raises(WavegenError, match="the plan covers 21 samples"):
        generate(model, cond, 22, engine="cpu", units=units)
    assert generate(model, cond, 21, engine="cpu", units=units, seed=0).shape == (2, 21)
