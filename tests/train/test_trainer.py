"""The trainer on a tiny dump: metrics, checkpoints, exact resume, config errors."""

import csv

import pytest
import torch
import yaml

from wavegen.data.dump import dump_data_dir
from wavegen.data.gtzan import prepare_gtzan
from wavegen.data.toy import make_toy_corpus
from wavegen.errors import WavegenError
from wavegen.models.io import load_model
from wavegen.train.checkpoint import list_checkpoints
from wavegen.train.trainer import train

TINY = {
    "sample_rate": 8000,
    "model": {"residual_channels": 8, "gate_channels": 12, "skip_channels": 8,
              "n_layers": 4, "dilation_cycle": 4},
    "train": {"batch_size": 2, "segment_length": 100, "max_steps": 6, "warmup_steps": 2,
              "checkpoint_every": 2, "valid_every": 3, "valid_batches": 1, "log_every": 1},
}


@pytest.fixture(scope="module")
def dump_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    make_toy_corpus(root / "db", clips_per_genre=3, duration=0.5, seed=0)
    prepare_gtzan(root / "db", root / "data", split="random")
    for name in ("train", "valid"):
        dump_data_dir(root / "data" / name, root / "dump" / name, 8000)
    return root / "dump"


def write_config(path, overrides=None):
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    for section, values in (overrides or {}).items():
        cfg[section].update(values)
    path.write_text(yaml.safe_dump(cfg))
    return path


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
    resumed = load_model(tmp_path / "cut" / "model.pt")[0].state_dict()
    for name, tensor in full.items():
        assert torch.equal(tensor, resumed[name]), name


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
