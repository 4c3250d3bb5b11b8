"""train.init_from: a new run starts from a model file's weights; bad files are refused."""

import os

import pytest
import torch
from tiny_config import TINY, write_config

from wavegen.config import load_config
from wavegen.data.dump import DumpStore
from wavegen.errors import WavegenError
from wavegen.models.io import save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.train.state import init_state
from wavegen.train.trainer import next_batch, train, train_step


def _vocab(dump_root):
    return DumpStore(dump_root / "train").vocab


def _model_file(path, dump_root, **arch):
    cfg = WaveNetConfig(**{**TINY["model"], "n_cond": len(_vocab(dump_root)), **arch})
    torch.manual_seed(11)
    net = WaveNet(cfg)
    save_model(path, net, 8000, _vocab(dump_root), "utt2genre", True)
    return net


def _state(dump_root, tmp_path, init_from, name="exp"):
    conf = write_config(tmp_path / f"{name}.yaml", {"train": {"init_from": str(init_from),
                                                              "ema_decay": 0.99}})
    return init_state(load_config(conf), dump_root, tmp_path / name)


def test_a_new_run_starts_from_the_file(dump_root, tmp_path):
    net = _model_file(tmp_path / "m.pt", dump_root)
    state = _state(dump_root, tmp_path, tmp_path / "m.pt")
    for model in (state.acc.unwrap_model(state.model), state.ema.model):
        for (k, a), b in zip(model.state_dict().items(), net.state_dict().values(),
                             strict=True):
            assert torch.equal(a, b), k
    assert state.step == 0 and not state.opt.state  # a fresh optimizer
    assert train_step(state, next_batch(state)) is not None


def test_a_resume_keeps_its_own_weights(dump_root, tmp_path):
    """Once the folder has checkpoints, they win: init_from is not read again (the file
    may even be gone)."""
    start = _model_file(tmp_path / "m.pt", dump_root).state_dict()
    conf = write_config(tmp_path / "c.yaml", {"train": {"init_from": str(tmp_path / "m.pt"),
                                                        "max_steps": 2}})
    train(conf, dump_root, tmp_path / "exp")
    trained = torch.load(tmp_path / "exp" / "model.pt", weights_only=True)["state_dict"]
    assert any(not torch.equal(trained[k], start[k]) for k in start)
    os.remove(tmp_path / "m.pt")
    state = init_state(load_config(conf), dump_root, tmp_path / "exp")
    assert state.step == 2
    model = state.acc.unwrap_model(state.model).state_dict()
    assert all(torch.equal(model[k], trained[k]) for k in trained)


def _other_vocab(path, dump_root):
    cfg = WaveNetConfig(**{**TINY["model"], "n_cond": len(_vocab(dump_root))})
    save_model(path, WaveNet(cfg), 8000, list(reversed(_vocab(dump_root))), "utt2genre")


def _tags(path, dump_root):
    cfg = WaveNetConfig(**{**TINY["model"], "n_cond": len(_vocab(dump_root))})
    save_model(path, WaveNet(cfg), 8000, _vocab(dump_root), "utt2tags")


@pytest.mark.parametrize("make, message", [
    (None, "model file .*missing.pt not found"),
    (lambda p, d: p.mkdir(), "not found"),
    (lambda p, d: p.write_bytes(b""), "not a safe wavegen file"),
    (lambda p, d: p.write_text("state_dict: 1\n"), "not a safe wavegen file"),
    (lambda p, d: torch.save({"a": 1}, p), "is not a wavegen model"),
    (lambda p, d: _model_file(p, d, n_layers=3), r"is another network \(n_layers 3 there, 4 "
                                                 r"here\): set model\.\* in the config"),
    (lambda p, d: _model_file(p, d, residual_channels=16), "residual_channels 16 there"),
    (_other_vocab, "was trained on the labels .*these dumps have .*start from a model of "
                   "the same labels"),
    (_tags, r"\(utt2tags\); these dumps have .*\(utt2genre\)"),
])
def test_bad_files_are_refused(dump_root, tmp_path, make, message):
    path = tmp_path / ("missing.pt" if make is None else "m.pt")
    if make is not None:
        make(path, dump_root)
    with pytest.raises(WavegenError, match=message):
        _state(dump_root, tmp_path, path)
    assert not (tmp_path / "exp" / "checkpoints").exists()
