"""Experiment trackers (train.log_with) through accelerate: W&B offline for real, and a
clear error before training for a tracker that is not installed."""

import importlib
import json
import struct

import pytest
from tiny_config import write_config

from wavegen.config import TRACKERS
from wavegen.errors import WavegenError
from wavegen.train.trainer import train


def _wandb_payloads(path):
    """The records of an offline W&B run file (``run-*.wandb``): a 7-byte file header, then
    LevelDB-style log blocks of 32 KiB, each record a 7-byte header (CRC32, length, type:
    1 whole, 2 first, 3 middle, 4 last part) and its bytes; headers never straddle blocks."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, parts = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # padding at the end of a block
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            break
        parts += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            yield parts
            parts = b""


def _wandb_records(path):
    """(history rows, config keys) of an offline W&B run, decoded with W&B's protobufs."""
    from wandb.proto import wandb_internal_pb2

    history, config = [], set()
    for payload in _wandb_payloads(path):
        rec = wandb_internal_pb2.Record()
        rec.ParseFromString(payload)
        if rec.HasField("history"):
            history.append({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                            for i in rec.history.item})
        if rec.HasField("config"):
            config |= {i.key for i in rec.config.update}
    return history, config


def test_wandb_offline_receives_every_log_row(dump_root, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    conf = write_config(tmp_path / "c.yaml", {"train": {"max_steps": 4, "valid_every": 2,
                                                        "log_with": ["wandb"]}})
    train(conf, dump_root, tmp_path / "exp")
    runs = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    history, config = _wandb_records(runs[0])
    steps = [h for h in history if "train/loss_bits" in h]
    assert [int(h["_step"]) for h in steps] == [1, 2, 3, 4]  # log_every 1: every step
    assert sum("train/valid_bits" in h for h in steps) == 2  # validation at 2 and 4
    csv_rows = (tmp_path / "exp" / "train_log.csv").read_text().splitlines()[1:]
    assert [float(h["train/loss_bits"]) for h in steps] == pytest.approx(
        [float(r.split(",")[1]) for r in csv_rows], abs=1e-4)
    assert {"train.learning_rate", "model.n_layers", "sample_rate"} <= config


@pytest.mark.parametrize("name", TRACKERS)
def test_a_tracker_that_is_not_installed_stops_before_training(dump_root, tmp_path,
                                                               name):
    if getattr(importlib.import_module("accelerate.utils"), f"is_{name}_available")():
        pytest.skip(f"{name} is installed here")
    conf = write_config(tmp_path / "c.yaml", {"train": {"log_with": [name]}})
    with pytest.raises(WavegenError, match=rf"names {name}, which is not installed here: "
                                           r"pip install [\w-]+ \(or remove it"):
        train(conf, dump_root, tmp_path / "exp")
    assert not (tmp_path / "exp").exists()
