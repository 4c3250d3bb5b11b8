"""The trainer on a tiny dump: metrics, checkpoints, exact resume, config errors."""

import csv
import json

import pytest
import torch
import yaml
from tiny_config import TINY, write_config

from wavegen.errors import WavegenError
from wavegen.models.io import load_model
from wavegen.train import trainer as trainer_module
from wavegen.train.checkpoint import list_checkpoints
from wavegen.train.ema import EMA
from wavegen.train.trainer import drop_conditioning, train


def test_train_writes_model_log_and_checkpoints(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml")
    metrics = train(conf, dump_root, tmp_path / "exp")
    assert metrics["step"] == 6
    assert 0 < metrics["valid_bits"] < 9
    assert [p.name for p in list_checkpoints(tmp_path / "exp")] == [
        "step-0000002.pt", "step-0000004.pt", "step-0000006.pt"]
    model, info = load_model(tmp_path / "exp" / "model.pt")
    assert info.sample_rate == 8000 and len(info.vocab) == 10 and info.config.n_cond == 10
    rows = list(csv.DictReader(open(tmp_path / "exp" / "train_log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[2]["valid_bits"] and not rows[1]["valid_bits"]
    # A checkpoint is itself a loadable model.
    load_model(list_checkpoints(tmp_path / "exp")[-1])


def test_resume_continues_exactly(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml")
    train(conf, dump_root, tmp_path / "full")
    full = load_model(tmp_path / "full" / "model.pt")[0].state_dict()

    train(conf, dump_root, tmp_path / "cut")
    # Simulate an interruption after step 4: its later state is gone.
    list_checkpoints(tmp_path / "cut")[-1].unlink()
    (tmp_path / "cut" / "model.pt").unlink()
    metrics = train(conf, dump_root, tmp_path / "cut")
    assert metrics["step"] == 6
    # Each run or resume leaves one provenance line: where it started, what ran it.
    runs = [json.loads(x) for x in (tmp_path / "cut" / "runs.jsonl").read_text().splitlines()]
    assert [(r["from_step"], r["to_step"]) for r in runs] == [(0, 6), (4, 6)]
    assert all(r["precision"] == "no" and r["command"] and r["date"] for r in runs)
    resumed = load_model(tmp_path / "cut" / "model.pt")[0].state_dict()
    for name, tensor in full.items():
        assert torch.equal(tensor, resumed[name]), name


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous(dump_root, tmp_path, caplog):
    """A crash of the machine mid-write can leave a short newest checkpoint: resume from the
    one before it, say so, and end with the same weights as an uninterrupted run."""
    conf = write_config(tmp_path / "c.yaml")
    train(conf, dump_root, tmp_path / "full")
    full = load_model(tmp_path / "full" / "model.pt")[0].state_dict()
    train(conf, dump_root, tmp_path / "cut")
    newest = list_checkpoints(tmp_path / "cut")[-1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 3])
    (tmp_path / "cut" / "model.pt").unlink()
    with caplog.at_level("WARNING"):
        assert train(conf, dump_root, tmp_path / "cut")["step"] == 6
    assert "step-0000004.pt" in caplog.text and "damaged" in caplog.text
    resumed = load_model(tmp_path / "cut" / "model.pt")[0].state_dict()
    for name, tensor in full.items():
        assert torch.equal(tensor, resumed[name]), name


def test_no_readable_checkpoint_is_a_clear_error(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {"train": {"max_steps": 4}})
    train(conf, dump_root, tmp_path / "exp")
    for path in list_checkpoints(tmp_path / "exp"):
        path.write_bytes(b"garbage")
    with pytest.raises(WavegenError, match="no readable checkpoint in .*move the folder aside"):
        train(write_config(tmp_path / "c.yaml"), dump_root, tmp_path / "exp")


@pytest.mark.parametrize("change", [{"n_layers": 5}, {"residual_channels": 6},
                                    {"dilation_cycle": 2}, {"gate_channels": 16}])
def test_a_config_of_another_network_does_not_resume(dump_root, tmp_path, change):
    train(write_config(tmp_path / "c.yaml", {"train": {"max_steps": 2}}), dump_root,
          tmp_path / "exp")
    before = {p: p.read_bytes() for p in list_checkpoints(tmp_path / "exp")}
    conf = write_config(tmp_path / "d.yaml", {"model": change})
    key, value = next(iter(change.items()))
    with pytest.raises(WavegenError, match=f"different network .*{key} .* there, {value} in"):
        train(conf, dump_root, tmp_path / "exp")
    assert {p: p.read_bytes() for p in list_checkpoints(tmp_path / "exp")} == before


def test_finished_experiment_is_not_retrained(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml")
    train(conf, dump_root, tmp_path / "exp")
    before = (tmp_path / "exp" / "checkpoints" / "step-0000006.pt").stat().st_mtime_ns
    metrics = train(conf, dump_root, tmp_path / "exp")
    assert metrics["step"] == 6
    assert (tmp_path / "exp" / "checkpoints" / "step-0000006.pt").stat().st_mtime_ns == before


def test_config_and_data_errors(dump_root, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "lr": 0.1}}))
    with pytest.raises(WavegenError, match="unknown key.*lr"):
        train(bad, dump_root, tmp_path / "exp")
    other_rate = write_config(tmp_path / "r.yaml")
    other_rate.write_text(other_rate.read_text().replace("sample_rate: 8000",
                                                         "sample_rate: 16000"))
    with pytest.raises(WavegenError, match="re-run the dump"):
        train(other_rate, dump_root, tmp_path / "exp")
    with pytest.raises(WavegenError, match="not a complete dump"):
        train(write_config(tmp_path / "c.yaml"), tmp_path / "nowhere", tmp_path / "exp")


def test_ema_dropout_and_clipping_resume_exactly(dump_root, tmp_path):
    extra = {"train": {"ema_decay": 0.9, "cond_dropout": 0.5, "grad_clip": 0.5},
             "synth": {"guidance": 2.0, "temperature": 0.9}}
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    cfg["train"].update(extra["train"])
    cfg["synth"] = extra["synth"]
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump(cfg))
    train(conf, dump_root, tmp_path / "full")
    model, info = load_model(tmp_path / "full" / "model.pt")
    assert info.null_condition
    assert info.synth_defaults == {"temperature": 0.9, "top_p": 1.0, "guidance": 2.0}
    # model.pt holds the averaged weights; a checkpoint loads its averaged weights too.
    ckpt = torch.load(list_checkpoints(tmp_path / "full")[-1], weights_only=True)
    live, averaged = ckpt["state_dict"], ckpt["ema_state_dict"]
    assert any(not torch.equal(live[k], averaged[k]) for k in live)
    for k, v in model.state_dict().items():
        assert torch.equal(v, averaged[k]), k
    assert torch.equal(load_model(list_checkpoints(tmp_path / "full")[-1])[0]
                       .state_dict()["embed.weight"], averaged["embed.weight"])

    train(conf, dump_root, tmp_path / "cut")
    list_checkpoints(tmp_path / "cut")[-1].unlink()
    (tmp_path / "cut" / "model.pt").unlink()
    train(conf, dump_root, tmp_path / "cut")
    resumed = load_model(tmp_path / "cut" / "model.pt")[0].state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, resumed[name]), name


def test_drop_conditioning_zeroes_whole_rows():
    cond = torch.rand(4000, 10) + 0.1
    dropped = drop_conditioning(cond, 0.25, torch.Generator().manual_seed(0))
    zero_rows = (dropped == 0).all(1)
    assert 0.22 < zero_rows.float().mean().item() < 0.28
    assert torch.equal(dropped[~zero_rows], cond[~zero_rows])
    assert drop_conditioning(cond, 0.0, torch.Generator()) is cond


def test_ema_warms_up_then_trails():
    net = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, decay=0.99)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update(net, step=1)  # decay min(0.99, 2/11): moves 9/11 of the way
    assert torch.allclose(ema.model.weight, torch.full((1, 2), 9 / 11))
    ema.update(net, step=10_000)  # decay 0.99
    assert torch.allclose(ema.model.weight, torch.full((1, 2), 1 - 0.99 * 2 / 11))


def _poison(monkeypatch, bad_calls):
    """Make the training loss non-finite on the given (1-based) calls of the training loss."""
    real = trainer_module.nll_bits
    calls = {"n": 0}

    def nll(model, codes, cond):
        loss = real(model, codes, cond)
        if model.training:
            calls["n"] += 1
            if bad_calls(calls["n"]):
                return loss * float("nan")
        return loss

    monkeypatch.setattr(trainer_module, "nll_bits", nll)


def test_non_finite_steps_are_skipped(dump_root, tmp_path, monkeypatch):
    _poison(monkeypatch, lambda n: n % 3 == 0)
    conf = write_config(tmp_path / "c.yaml", {"train": {"max_nonfinite": 2}})
    metrics = train(conf, dump_root, tmp_path / "exp")
    assert metrics["step"] == 6
    model, _ = load_model(tmp_path / "exp" / "model.pt")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_too_many_non_finite_steps_stop_and_keep_the_checkpoint(dump_root, tmp_path,
                                                               monkeypatch):
    conf = write_config(tmp_path / "c.yaml", {"train": {"max_nonfinite": 3}})
    train(conf, dump_root, tmp_path / "exp", max_steps=4)
    good = list_checkpoints(tmp_path / "exp")[-1]
    before = good.read_bytes()
    _poison(monkeypatch, lambda n: True)
    with pytest.raises(WavegenError, match="3 steps in a row.*non-finite.*stopped at step 4"):
        train(conf, dump_root, tmp_path / "exp")
    assert list_checkpoints(tmp_path / "exp")[-1] == good
    assert good.read_bytes() == before
    load_model(good)
