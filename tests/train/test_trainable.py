"""train.trainable: conditioning moves only the label's projections; resumes keep to it."""

import pytest
import torch
from tiny_config import write_config

from wavegen.config import load_config
from wavegen.errors import WavegenError
from wavegen.train.state import init_state
from wavegen.train.trainer import next_batch, train, train_step


def _weights(state):
    return {k: v.detach().clone()
            for k, v in state.acc.unwrap_model(state.model).state_dict().items()}


def test_conditioning_moves_only_the_label_projections(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {"train": {"trainable": "conditioning",
                                                        "cond_dropout": 0.3}})
    state = init_state(load_config(conf), dump_root, tmp_path / "exp")
    before = _weights(state)
    for _ in range(3):
        assert train_step(state, next_batch(state)) is not None
    after = _weights(state)
    moved = sorted(k for k in before if not torch.equal(before[k], after[k]))
    n_layers = len(state.acc.unwrap_model(state.model).layers)
    assert moved == sorted(f"layers.{i}.cond.weight" for i in range(n_layers))
    # The null label does not go through those projections: its predictions are unchanged.
    codes = next_batch(state)[0]
    null = torch.zeros(codes.shape[0], len(state.vocab))
    net = state.acc.unwrap_model(state.model)
    with torch.no_grad():
        now = net(codes[:, :-1], null)
        net.load_state_dict(before)
        assert torch.equal(net(codes[:, :-1], null), now)


def test_all_moves_everything(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {"train": {}})
    state = init_state(load_config(conf), dump_root, tmp_path / "exp")
    before = _weights(state)
    train_step(state, next_batch(state))
    after = _weights(state)
    assert all(not torch.equal(before[k], after[k]) for k in before)


def test_a_resume_with_another_setting_is_refused(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {"train": {"trainable": "conditioning",
                                                        "max_steps": 2}})
    train(conf, dump_root, tmp_path / "exp")
    again = init_state(load_config(conf), dump_root, tmp_path / "exp")  # same setting: resumes
    assert again.step == 2
    other = write_config(tmp_path / "o.yaml", {"train": {"trainable": "all", "max_steps": 4}})
    with pytest.raises(WavegenError, match=r"trained with another train\.trainable than 'all'"
                                           r".*set it back, or start a new experiment folder"):
        init_state(load_config(other), dump_root, tmp_path / "exp")
