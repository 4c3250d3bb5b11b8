"""YAML experiment configs -> typed dataclasses. Unknown keys are errors.

A config has three sections::

    sample_rate: 16000      # the model rate; the dump resamples to it
    model: {...}            # WaveNetConfig fields (n_cond comes from the vocabulary)
    train: {...}            # TrainConfig fields
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from wavegen.errors import WavegenError
from wavegen.models.wavenet import WaveNetConfig


@dataclass
class TrainConfig:
    """Training hyper-parameters.

    Attributes:
        batch_size: segments per step (per process).
        segment_length: samples per segment (predicted positions).
        learning_rate: Adam step size (peak, after warm-up).
        lr_min_ratio: the cosine schedule ends at ``learning_rate * lr_min_ratio``.
        warmup_steps: linear warm-up length.
        max_steps: total optimizer steps.
        checkpoint_every: steps between checkpoints (one is always written at the end).
        valid_every: steps between validation passes.
        valid_batches: fixed validation batches (same segments every time).
        log_every: steps between log lines in ``train_log.csv``.
        seed: seeds initialization and segment sampling.
    """

    batch_size: int = 8
    segment_length: int = 4000
    learning_rate: float = 1e-3
    lr_min_ratio: float = 0.1
    warmup_steps: int = 100
    max_steps: int = 2000
    checkpoint_every: int = 500
    valid_every: int = 250
    valid_batches: int = 4
    log_every: int = 10
    seed: int = 0


@dataclass
class ExperimentConfig:
    sample_rate: int = 16000
    model: WaveNetConfig = field(default_factory=WaveNetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


T = TypeVar("T")


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3`` as a float, as YAML 1.2 does (PyYAML
    follows YAML 1.1, which needs a dot: ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def from_dict(cls: type[T], values: dict[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from ``values``; unknown keys and wrong types are errors."""
    if values is not None and not isinstance(values, dict):
        raise WavegenError(f"{where} must be a mapping of key: value lines, got {values!r}")
    values = dict(values or {})
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise WavegenError(
            f"unknown key(s) {', '.join(unknown)} in {where}; known: {', '.join(sorted(known))}"
        )
    for name, value in values.items():
        default = getattr(cls(), name) if name in known else None
        if isinstance(default, bool) != isinstance(value, bool) or (
            isinstance(default, (int, float)) and not isinstance(value, (int, float))
        ) or (isinstance(default, int) and not isinstance(default, bool)
              and isinstance(value, float)):
            raise WavegenError(
                f"{where}.{name} must be {type(default).__name__}, got {value!r}"
            )
    try:
        return cls(**values)
    except ValueError as err:
        raise WavegenError(f"{where}: {err}") from err


def config_from_dict(raw: dict[str, Any], where: str = "config") -> ExperimentConfig:
    raw = dict(raw or {})
    unknown = sorted(set(raw) - {"sample_rate", "model", "train"})
    if unknown:
        raise WavegenError(f"unknown key(s) {', '.join(unknown)} in {where}; "
                           "known: model, sample_rate, train")
    sample_rate = raw.get("sample_rate", 16000)
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise WavegenError(f"{where}.sample_rate must be a positive integer, got {sample_rate!r}")
    return ExperimentConfig(
        sample_rate=sample_rate,
        model=from_dict(WaveNetConfig, raw.get("model"), f"{where}.model"),
        train=from_dict(TrainConfig, raw.get("train"), f"{where}.train"),
    )


def load_config(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read a YAML config file."""
    path = Path(path)
    if not path.is_file():
        raise WavegenError(f"config file {path} not found")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as err:
        raise WavegenError(f"config file {path} is not valid YAML: {err}") from err
    if raw is not None and not isinstance(raw, dict):
        raise WavegenError(f"config file {path} must hold a mapping at the top level")
    return config_from_dict(raw or {}, where=str(path))
