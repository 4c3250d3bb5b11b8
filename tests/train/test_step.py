"""One training step, validation and the checkpoint payload, called directly on a state."""

import math

import pytest
import torch
from tiny_config import write_config

from wavegen.config import load_config
from wavegen.errors import WavegenError
from wavegen.train.state import init_state
from wavegen.train.trainer import checkpoint_payload, next_batch, train_step, validate


@pytest.fixture
def state(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {"train": {"cond_dropout": 0.5,
                                                        "ema_decay": 0.9}})
    return init_state(load_config(conf), dump_root, tmp_path / "exp")


def _params(state):
    return [p.detach().clone() for p in state.model.parameters()]


def test_a_step_moves_the_weights_schedule_and_average(state):
    before, lr0 = _params(state), state.sched.get_last_lr()[0]
    ema0 = [p.detach().clone() for p in state.ema.model.parameters()]
    codes, cond = next_batch(state)
    assert codes.shape == (2, 101) and codes.dtype == torch.long and cond.shape[0] == 2
    out = train_step(state, (codes, cond))
    assert set(out) == {"loss_bits", "grad_norm"}
    assert 6.0 < out["loss_bits"] < 9.0 and out["grad_norm"] > 0  # untrained: ~8 bits
    assert state.step == 1 and state.skipped == 0
    assert all(not torch.equal(a, b) for a, b in zip(before, _params(state), strict=True))
    assert state.sched.get_last_lr()[0] != lr0
    ema1 = state.ema.model.parameters()
    assert any(not torch.equal(a, b) for a, b in zip(ema0, ema1, strict=True))


def test_validation_is_repeatable_and_keeps_training_mode(state):
    """validate() scores the fixed validation batches with the averaged weights, the same
    way every time (nothing random, the model left in training mode)."""
    first, second = validate(state), validate(state)
    assert first == second and 6.0 < first < 9.0
    assert state.model.training and not state.ema.model.training


def test_a_non_finite_step_is_dropped_and_counted(state):
    with torch.no_grad():
        next(state.model.parameters()).fill_(math.inf)
    before = _params(state)
    assert train_step(state, next_batch(state)) is None
    assert state.step == 0 and state.skipped == 1 and state.bad_in_a_row == 1
    after = _params(state)
    assert all(torch.equal(a, b) or (a.isinf().all() and b.isinf().all())
               for a, b in zip(before, after, strict=True))
    assert all(p.grad is None for p in state.model.parameters())
    state.cfg.train.max_nonfinite = 2
    with pytest.raises(WavegenError, match=r"2 steps in a row.*stopped at step 0\. The last "
                                           r"checkpoint in .*exp is intact"):
        train_step(state, next_batch(state))


def test_the_payload_holds_what_a_resume_needs(state):
    train_step(state, next_batch(state))
    payload = checkpoint_payload(state)
    assert {"state_dict", "optimizer", "scheduler", "data_rng", "ema_state_dict",
            "train_config", "skipped", "best_valid_bits"} <= set(payload)
    assert payload["scheduler"]["last_epoch"] == 1
    assert torch.equal(payload["data_rng"], state.data_gen.get_state())


@pytest.mark.parametrize("settings", [{"impl": "reference"},
                                      {"recompute_gate": False, "checkpoint_activations": True}])
def test_execution_settings_reach_the_model(dump_root, tmp_path, settings):
    conf = write_config(tmp_path / "c.yaml", {"train": settings})
    state = init_state(load_config(conf), dump_root, tmp_path / "exp")
    model = state.acc.unwrap_model(state.model)
    assert {k: getattr(model, k) for k in settings} == settings
    assert train_step(state, next_batch(state)) is not None


def test_runs_of_another_precision_follow_each_other_in_one_process(dump_root, tmp_path):
    """accelerate keeps one state per process; a bf16 run, a plain one and a bf16 one again
    all start (a second Accelerator of another precision used to be refused)."""
    for k, precision in enumerate(("bf16", "no", "bf16")):
        conf = write_config(tmp_path / f"c{k}.yaml", {"train": {"mixed_precision": precision}})
        state = init_state(load_config(conf), dump_root, tmp_path / f"run{k}")
        assert str(state.acc.mixed_precision) == precision
