"""Training a planner (level: plan): a WaveNet over the frames of the unit tables. Its model
file, an exact resume, and the settings and data it refuses."""

import shutil

import pytest
import torch
from two_level_files import PLANNER, RENDERER, write_yaml

from wavegen.config import config_from_dict
from wavegen.errors import WavegenError
from wavegen.models.io import load_model
from wavegen.train.checkpoint import list_checkpoints
from wavegen.train.trainer import train
from wavegen.units.tokenizer import Tokenizer


def test_the_planner_file_is_a_planner_over_the_tables_units(two_level):
    net, info = load_model(two_level["planner"])
    tok = Tokenizer.load(two_level["dump"] / "tokenizer.pt")
    assert info.level == "plan" and info.is_planner
    assert info.config.n_classes == tok.n_units + 1 and info.config.n_units == 0
    assert info.tokenizer is not None and info.tokenizer["identity"] == tok.identity()
    assert info.step_rate == 8000 / tok.hop == 50.0
    assert info.synth_defaults == PLANNER["synth"] and info.null_condition
    ckpt = load_model(list_checkpoints(two_level["planner"].parent)[-1])[1]
    assert ckpt.level == "plan"
    renderer = load_model(two_level["renderer"])[1]
    assert renderer.level == "sample" and renderer.step_rate == 8000


def test_a_planner_resumes_exactly(two_level, tmp_path):
    conf = write_yaml(tmp_path / "p.yaml", PLANNER)
    dump = two_level["dump"]
    train(conf, dump, tmp_path / "cut")
    list_checkpoints(tmp_path / "cut")[-1].unlink()  # interrupted after step 2
    (tmp_path / "cut" / "model.pt").unlink()
    assert train(conf, dump, tmp_path / "cut")["step"] == PLANNER["train"]["max_steps"]
    full = load_model(two_level["planner"])[0].state_dict()
    resumed = load_model(tmp_path / "cut" / "model.pt")[0].state_dict()
    for name, tensor in full.items():
        assert torch.equal(tensor, resumed[name]), name


@pytest.mark.parametrize("level,match", [
    ("frames", "level must be sample"),
    ("", "level must be sample"),
    (1, "level must be sample"),
    (None, "level must be sample"),
    (["plan"], "level must be sample"),
])
def test_a_bad_level_is_one_line(level, match):
    with pytest.raises(WavegenError, match=match):
        config_from_dict({"level": level})


def test_a_planner_with_a_plan_of_its_own_is_refused():
    with pytest.raises(WavegenError, match="set model.n_units to 0"):
        config_from_dict({"level": "plan", "model": {"n_units": 64}})


def test_a_planner_needs_the_unit_tables(two_level, tmp_path):
    dump = tmp_path / "dump"
    for name in ("train", "valid"):
        shutil.copytree(two_level["dump"] / name, dump / name, ignore=shutil.ignore_patterns(
            "units"))
    with pytest.raises(WavegenError, match=r"a planner \(level: plan\) needs the unit tables"):
        train(write_yaml(tmp_path / "p.yaml", PLANNER), dump, tmp_path / "exp")
    assert not (tmp_path / "exp").exists()


def test_levels_do_not_mix_in_one_folder_or_through_init_from(two_level, tmp_path):
    dump = two_level["dump"]
    exp = tmp_path / "exp"
    shutil.copytree(two_level["planner"].parent, exp)
    (exp / "model.pt").unlink()
    sample = {**RENDERER, "model": {**RENDERER["model"], "n_units": 0},
              "train": {**RENDERER["train"], "max_steps": 8}}
    with pytest.raises(WavegenError, match="checkpoints of level plan"):
        train(write_yaml(tmp_path / "s.yaml", sample), dump, exp)
    planner = {**PLANNER, "train": {**PLANNER["train"], "init_from": str(two_level["renderer"])}}
    with pytest.raises(WavegenError, match="is a model of level sample"):
        train(write_yaml(tmp_path / "p.yaml", planner), dump, tmp_path / "new")
