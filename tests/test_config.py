"""YAML experiment configs: typed, strict about keys and types, clear about bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from wavegen.config import ExperimentConfig, TrainConfig, config_from_dict, load_config
from wavegen.errors import WavegenError
from wavegen.models.wavenet import WaveNetConfig

TOY_CONFIG = Path(__file__).resolve().parents[1] / "egs" / "toy" / "v1" / "conf" / "train.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """\
sample_rate: 8000
model:
  residual_channels: 16
  n_layers: 4
train:
  batch_size: 2
  learning_rate: 0.005
"""))
    assert cfg.sample_rate == 8000
    assert cfg.model == WaveNetConfig(residual_channels=16, n_layers=4)
    assert cfg.train == TrainConfig(batch_size=2, learning_rate=0.005)


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == ExperimentConfig()
    assert load_config(write(tmp_path, "model:\ntrain:\n")) == ExperimentConfig()


def test_mixed_precision_defaults_to_auto() -> None:
    """bf16 where it has hardware, float32 elsewhere (wavegen.train.precision)."""
    assert ExperimentConfig().train.mixed_precision == "auto"


def test_shipped_toy_config_loads() -> None:
    cfg = load_config(TOY_CONFIG)
    assert cfg.sample_rate == 8000 and cfg.train.learning_rate == 0.002


def test_dict_round_trip() -> None:
    cfg = ExperimentConfig(sample_rate=8000, model=WaveNetConfig(n_layers=3))
    assert config_from_dict(cfg.to_dict()) == cfg


def test_int_is_accepted_for_a_float() -> None:
    assert config_from_dict({"train": {"learning_rate": 1}}).train.learning_rate == 1


def test_exponent_float_without_a_dot(tmp_path: Path) -> None:
    """PyYAML alone reads ``1e-3`` as a string; configs mean the number."""
    cfg = load_config(write(tmp_path, "train:\n  learning_rate: 1e-3\n  lr_min_ratio: 5E-2\n"))
    assert cfg.train.learning_rate == 0.001 and cfg.train.lr_min_ratio == 0.05


@pytest.mark.parametrize("text, key, known", [
    ("model:\n  n_layer: 4\n", "n_layer", "dilation_cycle, gate_channels, n_classes"),
    ("train:\n  lerning_rate: 0.1\n", "lerning_rate", "batch_size, checkpoint_activations"),
    ("trian:\n  batch_size: 2\n", "trian", "known: level, model, sample_rate, synth, train"),
])
def test_unknown_key(tmp_path: Path, text: str, key: str, known: str) -> None:
    with pytest.raises(WavegenError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert f"unknown key(s) {key} in" in message and known in message


@pytest.mark.parametrize("section, key, value", [
    ("model", "n_layers", "'16'"),
    ("model", "n_layers", "16.0"),
    ("model", "n_layers", "true"),
    ("model", "n_layers", "null"),
    ("train", "learning_rate", "fast"),
    ("train", "learning_rate", "[0.1]"),
    ("train", "batch_size", "2.5"),
])
def test_wrong_type(tmp_path: Path, section: str, key: str, value: str) -> None:
    with pytest.raises(WavegenError, match=rf"{section}\.{key} must be (int|float), got"):
        load_config(write(tmp_path, f"{section}:\n  {key}: {value}\n"))


@pytest.mark.parametrize("value", ["'16000'", "16000.0", "0", "-8000", "true"])
def test_bad_sample_rate(tmp_path: Path, value: str) -> None:
    with pytest.raises(WavegenError, match="sample_rate must be a positive integer"):
        load_config(write(tmp_path, f"sample_rate: {value}\n"))


@pytest.mark.parametrize("value", ["5", "[1, 2]", "fast"])
def test_section_must_be_a_mapping(tmp_path: Path, value: str) -> None:
    with pytest.raises(WavegenError, match="model must be a mapping"):
        load_config(write(tmp_path, f"model: {value}\n"))


def test_invalid_model_values_become_wavegen_errors(tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match="gate_channels must be even, got 63"):
        load_config(write(tmp_path, "model:\n  gate_channels: 63\n"))


def test_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match="is not valid YAML"):
        load_config(write(tmp_path, "model: [1, 2\n"))


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match="mapping at the top level"):
        load_config(write(tmp_path, "- 1\n- 2\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match=f"config file {tmp_path / 'none.yaml'} not found"):
        load_config(tmp_path / "none.yaml")


@pytest.mark.parametrize("text,message", [
    ("train:\n  batch_size: 0\n", "batch_size must be >= 1, got 0"),
    ("train:\n  learning_rate: -0.1\n", "learning_rate must be > 0"),
    ("train:\n  cond_dropout: 1.5\n", r"cond_dropout must be in \[0, 1\]"),
    ("train:\n  ema_decay: 1.0\n", r"ema_decay must be in \[0, 1\)"),
    ("train:\n  grad_clip: -1\n", "grad_clip must be >= 0"),
    ("synth:\n  top_p: 0\n", r"top_p must be in \(0, 1\]"),
    ("synth:\n  guidance: 2.0\n", "guidance needs a null label: set train.cond_dropout > 0"),
])
def test_out_of_range_values(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(WavegenError, match=message):
        load_config(write(tmp_path, text))


def test_guidance_with_conditioning_dropout(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "train:\n  cond_dropout: 0.1\nsynth:\n  guidance: 3\n"))
    assert cfg.synth.guidance == 3.0 and cfg.train.cond_dropout == 0.1


@pytest.mark.parametrize("value, message", [
    ("wandb", r"train\.log_with must be a list, e\.g\. \[wandb\]"),
    ("3", r"train\.log_with must be a list"),
    ("[3]", "log_with must be a list of tracker names"),
    ("[null]", "log_with must be a list of tracker names"),
    ("[[wandb]]", "log_with must be a list of tracker names"),
    ("[tensorboard]", "TensorBoard is written by train.tensorboard"),
    ("[all]", "unknown tracker 'all'; known: wandb, mlflow"),
    ("[W&B]", "unknown tracker 'W&B'"),
    ("['']", "unknown tracker ''"),
    ("[wandb, wandb]", "lists a tracker twice"),
])
def test_bad_trackers(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(WavegenError, match=message):
        load_config(write(tmp_path, f"train:\n  log_with: {value}\n"))


def test_trackers_default_to_none_and_are_read(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "train:\n  batch_size: 2\n")).train.log_with == []
    cfg = load_config(write(tmp_path, "train:\n  log_with: [wandb, mlflow]\n"))
    assert cfg.train.log_with == ["wandb", "mlflow"]


@pytest.mark.parametrize("key, value", [("impl", "reference"), ("recompute_gate", "false"),
                                        ("checkpoint_activations", "true")])
def test_execution_settings_belong_to_train(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(WavegenError, match=rf"model\.{key} is a training setting.*move it to "
                                           rf"train\.{key}"):
        load_config(write(tmp_path, f"model:\n  {key}: {value}\n"))
    cfg = load_config(write(tmp_path, f"train:\n  {key}: {value}\n"))
    assert str(getattr(cfg.train, key)).lower() == value


@pytest.mark.parametrize("value", ["cuda", "''", "Fused"])
def test_unknown_impl(tmp_path: Path, value: str) -> None:
    with pytest.raises(WavegenError, match="impl must be fused or reference"):
        load_config(write(tmp_path, f"train:\n  impl: {value}\n"))


@pytest.mark.parametrize("value, message", [
    ("3", r"train\.label_weights must be a mapping"), ("[country]", "must be a mapping"),
    ("{country: 0}", "'country' needs a finite weight > 0, got 0"),
    ("{country: -1}", "needs a finite weight > 0"), ("{country: .inf}", "needs a finite weight"),
    ("{country: .nan}", "needs a finite weight"), ("{country: x}", "needs a finite weight"),
    ("{country: true}", "needs a finite weight"), ("{3: 2}", "needs a finite weight"),
])
def test_bad_label_weights(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(WavegenError, match=message):
        load_config(write(tmp_path, f"train:\n  label_weights: {value}\n"))
    cfg = load_config(write(tmp_path, "train:\n  label_weights: {country: 3, disco: 2.5}\n"))
    assert cfg.train.label_weights == {"country": 3, "disco": 2.5}


@pytest.mark.parametrize("value, message", [
    ("-1", r"discriminative_weight must be a finite number >= 0, got -1"),
    (".inf", "discriminative_weight must be a finite number >= 0"),
    (".nan", "discriminative_weight must be a finite number >= 0"),
    ("strong", r"train\.discriminative_weight must be float"),
    ("[1]", r"train\.discriminative_weight must be float"),
    ("true", r"train\.discriminative_weight must be float"),
])
def test_bad_discriminative_weight(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(WavegenError, match=message):
        load_config(write(tmp_path, f"train:\n  discriminative_weight: {value}\n"))


@pytest.mark.parametrize("value, message", [
    ("0", "discriminative_margin must be > 0 when discriminative_weight is on"),
    ("-0.5", "discriminative_margin must be a finite number >= 0"),
    (".inf", "discriminative_margin must be a finite number >= 0"),
    (".nan", "discriminative_margin must be a finite number >= 0"),
    ("wide", r"train\.discriminative_margin must be float"),
])
def test_bad_discriminative_margin(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(WavegenError, match=message):
        load_config(write(tmp_path, "train:\n  discriminative_weight: 1\n"
                                    f"  discriminative_margin: {value}\n"))


def test_discriminative_defaults_and_values(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "train:\n  batch_size: 2\n"))
    assert cfg.train.discriminative_weight == 0 and cfg.train.init_from == ""
    cfg = load_config(write(tmp_path, "train:\n  discriminative_weight: 0.5\n"
                                      "  discriminative_margin: 0.3\n  init_from: a/m.pt\n"))
    assert (cfg.train.discriminative_weight, cfg.train.discriminative_margin,
            cfg.train.init_from) == (0.5, 0.3, "a/m.pt")


@pytest.mark.parametrize("value", ["3", "[a.pt]", "{a: 1}", "true"])
def test_init_from_must_be_a_path(tmp_path: Path, value: str) -> None:
    with pytest.raises(WavegenError, match=r"train\.init_from must be str|init_from must be "
                                           "the path of a model file"):
        load_config(write(tmp_path, f"train:\n  init_from: {value}\n"))


@pytest.mark.parametrize("value", ["cond", "''", "All", "[conditioning]", "none", "3"])
def test_bad_trainable(tmp_path: Path, value: str) -> None:
    with pytest.raises(WavegenError, match=r"trainable must be all or conditioning|"
                                           r"train\.trainable must be str"):
        load_config(write(tmp_path, f"train:\n  trainable: {value}\n"))
    assert load_config(write(tmp_path, "train:\n  trainable: conditioning\n")
                       ).train.trainable == "conditioning"
