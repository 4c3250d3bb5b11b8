"""A tiny real two-level model for the tests: a tokenizer fitted on a dump of the toy corpus,
its unit tables, a planner and a renderer trained a few steps on them, and the packed file."""

from __future__ import annotations

from pathlib import Path

import yaml
from renderer_files import fit_tiny_tokenizer

from wavegen.data.dump import dump_data_dir
from wavegen.models.two_level import pack
from wavegen.train.trainer import train
from wavegen.units.extract import extract_units

RATE, HOP = 8000, 160
NET = {"residual_channels": 8, "gate_channels": 12, "skip_channels": 8, "n_layers": 4,
       "dilation_cycle": 4}
TRAIN = {"batch_size": 2, "max_steps": 4, "warmup_steps": 1, "checkpoint_every": 2,
         "valid_every": 2, "valid_batches": 1, "log_every": 1, "mixed_precision": "no",
         "cond_dropout": 0.3}
PLANNER = {"sample_rate": RATE, "level": "plan", "model": NET,
           "train": {**TRAIN, "segment_length": 20},
           "synth": {"temperature": 0.9, "top_p": 0.95, "guidance": 2.0}}
RENDERER = {"sample_rate": RATE,
            "model": {**NET, "n_units": 64, "unit_channels": 6, "unit_layers": 1},
            "train": {**TRAIN, "segment_length": 400},
            "synth": {"temperature": 0.95, "top_p": 0.9, "guidance": 1.5}}


def write_yaml(path: Path, obj: dict) -> Path:
    path.write_text(yaml.safe_dump(obj))
    return path


def unit_dump(data: Path, root: Path) -> Path:
    """``root/dump`` with train, valid (and test) dumps, ``tokenizer.pt`` and unit tables."""
    dump = root / "dump"
    for name in ("train", "valid", "test"):
        dump_data_dir(data / name, dump / name, RATE)
    fit_tiny_tokenizer(dump / "train").save(dump / "tokenizer.pt")
    for name in ("train", "valid", "test"):
        extract_units(dump / name, dump / "tokenizer.pt")
    return dump


def build_two_level(data: Path, root: Path) -> dict[str, Path]:
    """Train the tiny planner and renderer on ``data``'s dumps and pack them:
    {"dump", "planner", "renderer", "two"} paths."""
    dump = unit_dump(data, root)
    train(write_yaml(root / "planner.yaml", PLANNER), dump, root / "planner")
    train(write_yaml(root / "renderer.yaml", RENDERER), dump, root / "renderer")
    two = pack(root / "planner" / "model.pt", root / "renderer" / "model.pt", root / "two.pt")
    return {"dump": dump, "planner": root / "planner" / "model.pt",
            "renderer": root / "renderer" / "model.pt", "two": two}
