"""Tag conditioning end to end: MTAT data dirs -> dump -> multi-hot batches -> a tiny trained
model -> ``wavegen synth --tags``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
import yaml
from corpus_layouts import make_mtat_tree

from wavegen.cli import main
from wavegen.data.dump import DumpStore, dump_data_dir
from wavegen.data.kaldi import read_table
from wavegen.data.mtat import prepare_mtat
from wavegen.data.segments import SegmentSampler
from wavegen.errors import WavegenError
from wavegen.models.conditioning import parse_tags
from wavegen.models.io import load_model
from wavegen.synth import condition_vector
from wavegen.train.trainer import train

pytestmark = pytest.mark.skipif("MP3" not in sf.available_formats(),
                                reason="this libsndfile cannot write MP3, needed for the fixture")

TINY = {
    "sample_rate": 8000,
    "model": {"residual_channels": 8, "gate_channels": 8, "skip_channels": 8,
              "n_layers": 3, "dilation_cycle": 3},
    "train": {"batch_size": 2, "segment_length": 64, "max_steps": 3, "warmup_steps": 1,
              "checkpoint_every": 3, "valid_every": 3, "valid_batches": 1, "log_every": 1},
}


@pytest.fixture(scope="module")
def dump_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mtat_e2e")
    make_mtat_tree(root / "db")
    prepare_mtat(root / "db", root / "data")
    for name in ("train", "valid"):
        dump_data_dir(root / "data" / name, root / "dump" / name, TINY["sample_rate"])
    return root / "dump"


@pytest.fixture(scope="module")
def model(dump_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    exp = tmp_path_factory.mktemp("exp")
    (exp / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    train(exp / "tiny.yaml", dump_root, exp / "run")
    return exp / "run" / "model.pt"


def test_batches_carry_multi_hot_tag_vectors(dump_root: Path) -> None:
    store = DumpStore(dump_root / "train")
    assert store.label_kind == "utt2tags" and len(store.vocab) == 50
    sampler = SegmentSampler(store, 32)
    utt2tags = read_table(dump_root / "train" / "utt2tags")
    for row, utt in zip(sampler.conds, store.utts, strict=True):
        assert sorted(store.vocab[i] for i in row.nonzero().flatten()) == sorted(
            utt2tags[utt].split(","))
        assert set(row.tolist()) == {0.0, 1.0} and row.sum() == 4
    _, cond = sampler.batch(4, torch.Generator().manual_seed(0))
    assert cond.shape == (4, 50)


def test_tag_model_synthesizes_from_tags(model: Path, tmp_path: Path) -> None:
    _, info = load_model(model)
    assert info.label_kind == "utt2tags" and len(info.vocab) == 50
    assert info.config.n_cond == 50
    out = tmp_path / "rgf.wav"
    assert main(["synth", "--model", str(model), "--tags", "rock,guitar,fast",
                 "--duration", "0.01", "--seed", "0", "--out", str(out)]) == 0
    assert sf.info(str(out)).frames == 80
    one = tmp_path / "rock.wav"
    assert main(["synth", "--model", str(model), "--genre", "rock", "--duration", "0.01",
                 "--seed", "0", "--out", str(one)]) == 0
    assert sf.info(str(one)).frames == 80


@pytest.mark.parametrize(("args", "message"), [
    (["--tags", "rock,banjo"], "unknown tag 'banjo'; known tags: rock, guitar"),
    (["--genre", "rock,guitar"], "--genre takes one tag, got 'rock,guitar'; give several"),
    (["--tags", "all"], "for one clip per tag use --genre all"),
])
def test_bad_tag_requests_are_errors(model: Path, tmp_path: Path, args: list[str], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.wav"
    assert main(["synth", "--model", str(model), *args, "--duration", "0.01",
                 "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_tags_and_genre_are_mutually_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["synth", "--tags", "rock", "--genre", "rock", "--out", "x.wav"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_condition_vectors() -> None:
    vocab = ["rock", "guitar", "no vocals"]
    assert parse_tags("rock, no vocals", vocab).tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(WavegenError, match="no tag given; known tags: rock, guitar, no vocals"):
        parse_tags(" , ", vocab)
    assert condition_vector("guitar", vocab, "utt2tags").tolist() == [0.0, 1.0, 0.0]
    assert condition_vector("rock:3,guitar:1", vocab, "utt2genre").tolist() == [0.75, 0.25, 0.0]
    with pytest.raises(WavegenError, match="conditioned on genres, not tags: use --genre"):
        condition_vector("rock", vocab, "utt2genre", from_tags=True)


def test_recipe_synth_step_renders_each_tag_set(model: Path, tmp_path: Path) -> None:
    recipe = Path(__file__).resolve().parents[2] / "egs" / "mtat" / "v1"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    out = tmp_path / "synth"
    result = subprocess.run(
        ["bash", "steps/synth.sh", "--duration", "0.01", "--tags", "rock,guitar;no vocal,piano",
         str(model), str(out)], cwd=recipe, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.glob("*.wav")) == ["no_vocal+piano_000.wav",
                                                         "rock+guitar_000.wav"]
