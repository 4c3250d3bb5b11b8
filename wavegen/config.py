"""YAML experiment configs -> typed dataclasses. Unknown keys are errors.

A config has these sections::

    sample_rate: 16000      # the model rate; the dump resamples to it
    level: sample           # sample (a WaveNet over mu-law samples) or plan (a planner: a
                            # WaveNet over the frames of the unit tables, docs/two_level.md)
    model: {...}            # WaveNetConfig fields (n_cond comes from the vocabulary)
    train: {...}            # TrainConfig fields
    synth: {...}            # SynthConfig fields: sampling defaults stored in the model file
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from wavegen.errors import WavegenError
from wavegen.models.wavenet import WaveNetConfig

TRAINABLE = ("all", "conditioning")  # train.trainable: which parameters the optimizer moves


@dataclass
class TrainConfig:
    """Training hyper-parameters.

    Attributes:
        batch_size: segments per optimizer step, over all processes and accumulation
            micro-steps together (the effective batch): the same config trains the same way on
            one CPU or many GPUs. Must divide by ``processes * grad_accum_steps``.
        grad_accum_steps: micro-batches accumulated per optimizer step (per process).
        mixed_precision: ``auto`` (bf16 where bf16 products have hardware: a GPU, or a CPU
            with AVX-512 BF16 or AMX; float32 elsewhere), ``no``, ``bf16`` or ``fp16``
            autocast (through accelerate; fp16 only on GPU; see ``wavegen.train.precision``).
            Weights, optimizer and checkpoints stay fp32.
        keep_checkpoints: how many of the newest checkpoints to keep (``best.pt`` is kept
            besides).
        tensorboard: also write TensorBoard scalars to ``<exp>/tensorboard``.
        log_with: experiment trackers that also receive every log row, through accelerate's
            trackers (``wandb``, ``mlflow``, ``comet_ml``, ``aim``, ``clearml``, ``dvclive``,
            ``trackio``, ``swanlab``); each is configured by its own environment variables
            (``WANDB_MODE``, ``MLFLOW_TRACKING_URI``, ...). Empty by default.
        segment_length: samples per segment (predicted positions); frames for a planner.
        learning_rate: Adam step size (peak, after warm-up).
        lr_min_ratio: the cosine schedule ends at ``learning_rate * lr_min_ratio``.
        warmup_steps: linear warm-up length.
        max_steps: total optimizer steps.
        checkpoint_every: steps between checkpoints (one is always written at the end).
        valid_every: steps between validation passes.
        valid_batches: fixed validation batches (same segments every time).
        log_every: steps between log lines in ``train_log.csv``.
        seed: seeds initialization and segment sampling.
        cond_dropout: probability of replacing a segment's conditioning by the zero vector, so
            the model also learns an unconditional ("null") distribution; needed for
            classifier-free guidance at synthesis (``--guidance``). 0 disables.
        ema_decay: keep an exponential moving average of the weights with this decay (e.g.
            0.999); model files and validation then use the averaged weights. 0 disables.
        grad_clip: clip the global gradient norm to this value. 0 disables.
        max_nonfinite: stop with an error after this many consecutive steps with a non-finite
            loss or gradient (each such step is skipped and counted).
        impl: how the model's forward is computed: ``fused`` (the optimized path) or
            ``reference`` (one ``nn.Conv1d`` per layer); the same network and results.
        recompute_gate: fused path: recompute each layer's gate in backward instead of
            storing it (less memory, one extra GEMM per layer).
        checkpoint_activations: fused path: keep only each cycle of dilations' input for
            backward (least memory).
        label_weights: sample the clips of these genres (or tags) this many times as often
            as the others (e.g. ``{country: 3}``); empty: in proportion to their length.
        init_from: a model file (or training checkpoint) of the same network and vocabulary
            to start from instead of random weights: its weights (the averaged ones, if it
            has them) start both the trained and the averaged model; the optimizer and the
            schedule start fresh. Only for a new run: a folder with checkpoints resumes from
            them. Relative paths are taken from the working directory. Empty: random start.
        discriminative_weight: weight of the genre-discriminative term
            (:mod:`wavegen.train.discriminative`): each conditioned segment is also scored
            under another label, and the term asks its own label to explain it better by at
            least ``discriminative_margin`` bits per sample. 0 disables (plain likelihood).
            Costs a second forward and backward per segment.
        discriminative_margin: that margin, in bits per sample (> 0).
        trainable: which parameters the optimizer moves: ``all``, or ``conditioning`` (only
            the projections of the label into each layer's gates; the rest stays as
            ``init_from`` left it, and the null label's distribution with it).
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
    cond_dropout: float = 0.0
    ema_decay: float = 0.0
    grad_clip: float = 0.0
    max_nonfinite: int = 20
    grad_accum_steps: int = 1
    mixed_precision: str = "auto"
    keep_checkpoints: int = 3
    tensorboard: bool = True
    log_with: list[str] = field(default_factory=list)
    impl: str = "fused"
    recompute_gate: bool = True
    checkpoint_activations: bool = False
    label_weights: dict[str, float] = field(default_factory=dict)
    init_from: str = ""
    discriminative_weight: float = 0.0
    discriminative_margin: float = 0.2
    trainable: str = "all"

    def __post_init__(self) -> None:
        check_trackers(self.log_with)
        if not isinstance(self.init_from, str):
            raise ValueError(f"init_from must be the path of a model file, got "
                             f"{self.init_from!r}")
        for name in ("discriminative_weight", "discriminative_margin"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.discriminative_weight > 0 and not self.discriminative_margin > 0:
            raise ValueError("discriminative_margin must be > 0 when discriminative_weight "
                             f"is on, got {self.discriminative_margin!r}")
        for name, weight in self.label_weights.items():
            if (not isinstance(name, str) or isinstance(weight, bool)
                    or not isinstance(weight, (int, float)) or not 0 < weight < math.inf):
                raise ValueError(f"label_weights: {name!r} needs a finite weight > 0, got "
                                 f"{weight!r}")
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable must be {' or '.join(TRAINABLE)}, got "
                             f"{self.trainable!r}")
        if self.impl not in ("fused", "reference"):
            raise ValueError(f"impl must be fused or reference, got {self.impl!r}")
        positive = ("batch_size", "segment_length", "max_steps", "checkpoint_every",
                    "valid_every", "valid_batches", "log_every", "max_nonfinite",
                    "grad_accum_steps", "keep_checkpoints")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ValueError(f"mixed_precision must be auto, no, bf16 or fp16, got "
                             f"{self.mixed_precision!r}")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        for name in ("lr_min_ratio", "cond_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0, got {self.grad_clip}")


# Experiment trackers accelerate can drive (``accelerate.utils.LoggerType``), TensorBoard apart:
# ``train.tensorboard`` writes it, resuming it in place.
TRACKERS = ("wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "trackio", "swanlab")


def check_trackers(names: object) -> None:
    """``train.log_with`` must be a list of distinct tracker names from ``TRACKERS``."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"log_with must be a list of tracker names (e.g. [wandb]), got "
                         f"{names!r}; known: {', '.join(TRACKERS)}")
    for name in names:
        if name == "tensorboard":
            raise ValueError("log_with: TensorBoard is written by train.tensorboard (true by "
                             "default); list only other trackers here")
        if name not in TRACKERS:
            raise ValueError(f"log_with: unknown tracker {name!r}; known: {', '.join(TRACKERS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"log_with lists a tracker twice: {names!r}")


@dataclass
class SynthConfig:
    """Sampling defaults a trained model carries into its model file (``wavegen synth`` flags
    override them).

    Attributes:
        temperature: softmax temperature.
        top_p: nucleus sampling mass.
        guidance: classifier-free guidance scale (needs ``train.cond_dropout > 0`` unless 1).
    """

    temperature: float = 1.0
    top_p: float = 1.0
    guidance: float = 1.0

    def __post_init__(self) -> None:
        try:
            check_sampling(self.temperature, self.top_p, self.guidance)
        except WavegenError as err:
            raise ValueError(str(err)) from None


def check_sampling(temperature: float | None = None, top_p: float | None = None,
                   guidance: float | None = None) -> None:
    """The one rule for sampling settings, wherever they come from (a config's ``synth``
    section, ``wavegen synth`` flags, a model file's defaults, :func:`wavegen.engine.stream`):
    temperature a finite number > 0, top_p in (0, 1], guidance a finite number >= 0. None
    is not checked.

    Raises:
        WavegenError: naming the setting, its range and the value.
    """
    if temperature is not None and not 0 < temperature < math.inf:
        raise WavegenError(f"temperature must be a finite number > 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise WavegenError(f"top_p must be in (0, 1], got {top_p}")
    if guidance is not None and not 0 <= guidance < math.inf:
        raise WavegenError(f"guidance must be a finite number >= 0, got {guidance}")


LEVELS = ("sample", "plan")  # what a WaveNet's steps are: audio samples, or frames of a plan


@dataclass
class ExperimentConfig:
    sample_rate: int = 16000
    level: str = "sample"
    model: WaveNetConfig = field(default_factory=WaveNetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)

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
        if isinstance(default, list) and not isinstance(value, list):
            raise WavegenError(f"{where}.{name} must be a list, e.g. [{value}], got {value!r}")
        if isinstance(default, dict) and not isinstance(value, dict):
            raise WavegenError(f"{where}.{name} must be a mapping, e.g. {{country: 3}}, got "
                               f"{value!r}")
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
    model = raw.get("model")
    if isinstance(model, dict):
        for key in ("impl", "recompute_gate", "checkpoint_activations"):
            if key in model:
                raise WavegenError(f"{where}.model.{key} is a training setting, not part of the "
                                   f"network: move it to train.{key}")
    unknown = sorted(set(raw) - {"sample_rate", "level", "model", "train", "synth"})
    if unknown:
        raise WavegenError(f"unknown key(s) {', '.join(unknown)} in {where}; "
                           "known: level, model, sample_rate, synth, train")
    level = raw.get("level", "sample")
    if level not in LEVELS:
        raise WavegenError(f"{where}.level must be sample (a WaveNet over audio samples) or "
                           f"plan (a planner over units), got {level!r}")
    sample_rate = raw.get("sample_rate", 16000)
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise WavegenError(f"{where}.sample_rate must be a positive integer, got {sample_rate!r}")
    cfg = ExperimentConfig(
        sample_rate=sample_rate,
        level=level,
        model=from_dict(WaveNetConfig, raw.get("model"), f"{where}.model"),
        train=from_dict(TrainConfig, raw.get("train"), f"{where}.train"),
        synth=from_dict(SynthConfig, raw.get("synth"), f"{where}.synth"),
    )
    if level == "plan" and cfg.model.n_units > 0:
        raise WavegenError(f"{where}: a planner (level: plan) is conditioned on the genre only; "
                           "set model.n_units to 0 (the renderer is the model with a plan)")
    if cfg.synth.guidance != 1.0 and cfg.train.cond_dropout <= 0:
        raise WavegenError(f"{where}.synth.guidance is {cfg.synth.guidance} but guidance needs "
                           "a null label: set train.cond_dropout > 0 (e.g. 0.1)")
    return cfg


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
