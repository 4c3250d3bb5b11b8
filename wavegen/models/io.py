"""Model files: everything ``wavegen synth`` needs, in one safely loadable file.

A model file is a ``torch.save`` dict of plain types and tensors::

    {"format": "wavegen-model", "version": 1, "model_config": {...}, "sample_rate": int,
     "vocab": [...], "label_kind": "utt2genre" | "utt2tags", "null_condition": bool,
     "synth_defaults": {"temperature": float, "top_p": float, "guidance": float},
     "state_dict": {...}}

A planner (``"level": "plan"``; a file without the key is ``"sample"``) is a WaveNet over the
frames of plans: its K + 1 classes are the units of the tokenizer it carries plus the start
symbol (:mod:`wavegen.units.codes`), its steps are frames of ``tokenizer hop`` samples at
``sample_rate``, and it has no local conditioning.

``null_condition`` says the model was trained with conditioning dropout, so the zero vector
is a learned unconditional distribution and classifier-free guidance works. A model with local
conditioning (``model_config["n_units"]`` > 0, a renderer) also holds ``"tokenizer"``: the
``tokenizer.pt`` dict of the units stage that made its training plans, stored as is (plain
types and tensors; ``"format": "wavegen-tokenizer"`` and its ``"identity"``), so the plans it
is given can be made the same way. Training checkpoints add ``ema_state_dict`` when weight
averaging is on; loading a checkpoint for synthesis uses those averaged weights.

Loading uses ``torch.load(weights_only=True)``, so a file can never run code.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from wavegen.errors import WavegenError
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.outputs import atomic_output
from wavegen.units.tokenizer import FORMAT as TOKENIZER_FORMAT

MODEL_FORMAT = "wavegen-model"
EXECUTION_KEYS = ("impl", "recompute_gate", "checkpoint_activations")


def default_model_path() -> Path:
    """The small model shipped with the package (trained on the rendered-instrument corpus;
    docs/default_model.md)."""
    return Path(str(resources.files("wavegen") / "pretrained" / "default.pt"))


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temp file, fsync, rename: a reader never sees a partial file."""
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def safe_torch_load(path: str | os.PathLike[str], what: str = "file") -> dict[str, Any]:
    """Load a torch file without executing code from it.

    Raises:
        WavegenError: missing, unreadable, not a wavegen file, or carrying code.
    """
    path = Path(path)
    if not path.is_file():
        raise WavegenError(f"{what} {path} not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for bad or unsafe pickles
        text = str(err).strip()
        if "weights_only" in text or "Weights only" in text:
            # Not torch's advice to load with weights_only=False: that would run the code.
            first = "it holds Python objects that only running code from the file could " \
                    "rebuild; wavegen never does that"
        else:
            first = text.splitlines()[0][:200] if text else type(err).__name__
        raise WavegenError(
            f"cannot load {what} {path}: not a safe wavegen file ({first})"
        ) from err
    if not isinstance(obj, dict):
        raise WavegenError(f"{what} {path} is not a wavegen file")
    return obj


@dataclass
class ModelInfo:
    config: WaveNetConfig
    sample_rate: int
    vocab: list[str]
    label_kind: str
    null_condition: bool = False
    synth_defaults: dict[str, float] = field(default_factory=dict)
    tokenizer: dict[str, Any] | None = None
    level: str = "sample"

    @property
    def is_planner(self) -> bool:
        return self.level == "plan"

    @property
    def step_rate(self) -> float:
        """Steps per second: the sample rate, or a planner's frame rate."""
        if not self.is_planner or self.tokenizer is None:
            return float(self.sample_rate)
        return self.sample_rate / int(self.tokenizer["identity"]["hop"])


def model_payload(model: WaveNet, sample_rate: int, vocab: list[str], label_kind: str,
                  null_condition: bool = False,
                  synth_defaults: dict[str, float] | None = None,
                  tokenizer: dict[str, Any] | None = None,
                  level: str = "sample") -> dict[str, Any]:
    """The model file dict (see the module doc); ``tokenizer`` only when given."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    out = {"format": MODEL_FORMAT, "version": 1, "model_config": asdict(model.cfg),
           "sample_rate": sample_rate, "vocab": list(vocab), "label_kind": label_kind,
           "null_condition": bool(null_condition),
           "synth_defaults": dict(synth_defaults or {}), "level": level, "state_dict": state}
    if tokenizer is not None:
        out["tokenizer"] = tokenizer
    return out


def save_model(path: str | os.PathLike[str], model: WaveNet, sample_rate: int,
               vocab: list[str], label_kind: str = "utt2genre", null_condition: bool = False,
               synth_defaults: dict[str, float] | None = None,
               tokenizer: dict[str, Any] | None = None, level: str = "sample") -> None:
    atomic_torch_save(model_payload(model, sample_rate, vocab, label_kind, null_condition,
                                    synth_defaults, tokenizer, level), path)


def model_from_payload(obj: dict[str, Any], where: str) -> tuple[WaveNet, ModelInfo]:
    """Build the model from a model file's or a training checkpoint's dict."""
    try:
        # Files written before the execution settings left the architecture carry them in
        # model_config: they do not change the network, so they are dropped.
        cfg = WaveNetConfig(**{k: v for k, v in obj["model_config"].items()
                               if k not in EXECUTION_KEYS})
        model = WaveNet(cfg)
        model.load_state_dict(obj.get("ema_state_dict") or obj["state_dict"])
        info = ModelInfo(cfg, int(obj["sample_rate"]), list(obj["vocab"]), obj["label_kind"],
                         bool(obj.get("null_condition", False)),
                         {str(k): float(v) for k, v in obj.get("synth_defaults", {}).items()},
                         obj.get("tokenizer"), obj.get("level", "sample"))
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise WavegenError(f"{where} is not a valid wavegen model: {err}") from err
    problem = _implausible(info)
    if problem:
        raise WavegenError(f"{where} is damaged: {problem}")
    return model.eval(), info


def _implausible(info: ModelInfo) -> str:
    """Why a model file's facts cannot be right ("" if they can)."""
    if not 1000 <= info.sample_rate <= 192000:
        return f"sample rate {info.sample_rate} Hz (expected 1000 .. 192000)"
    if len(info.vocab) != info.config.n_cond or len(set(info.vocab)) != len(info.vocab):
        return (f"{len(info.vocab)} labels ({len(set(info.vocab))} distinct) for a "
                f"conditioning of size {info.config.n_cond}")
    if info.label_kind not in ("utt2genre", "utt2tags"):
        return f"label kind {info.label_kind!r} (expected utt2genre or utt2tags)"
    for name, value in info.synth_defaults.items():
        if not math.isfinite(value):
            return f"synthesis default {name} = {value}"
    if info.level not in ("sample", "plan"):
        return f"level {info.level!r} (expected sample or plan)"
    if info.tokenizer is not None:
        problem = tokenizer_problem(info.tokenizer)
        if problem:
            return problem
    if info.is_planner:
        if info.tokenizer is None:
            return "a planner without the tokenizer of its units"
        k = info.tokenizer["identity"].get("n_units")
        hop = info.tokenizer["identity"].get("hop")
        if not isinstance(k, int) or info.config.n_classes != k + 1 or info.config.n_units:
            return (f"a planner of {info.config.n_classes} classes (local conditioning "
                    f"{info.config.n_units}) for a tokenizer of {k!r} units; expected "
                    f"{k!r} + 1 classes and none")
        if not isinstance(hop, int) or hop < 1:
            return f"its tokenizer's hop {hop!r}"
    return ""


def tokenizer_problem(tok: object) -> str:
    """Why ``tok`` is not a ``tokenizer.pt`` dict ("" if it is one): a dict with ``"format":
    "wavegen-tokenizer"`` and a dict ``"identity"``."""
    if not isinstance(tok, dict):
        return f"its tokenizer entry is a {type(tok).__name__}, not the tokenizer's dict"
    if tok.get("format") != TOKENIZER_FORMAT or not isinstance(tok.get("identity"), dict):
        return (f"its tokenizer entry is not a wavegen tokenizer (format {tok.get('format')!r}, "
                f"identity {type(tok.get('identity')).__name__})")
    return ""


def load_model(path: str | os.PathLike[str] | None = None) -> tuple[WaveNet, ModelInfo]:
    """Load a model file or a training checkpoint (default: the packaged model)."""
    path = Path(path) if path is not None else default_model_path()
    return model_from_file(safe_torch_load(path, "model file"), path)


def model_from_file(obj: dict[str, Any], path: Path) -> tuple[WaveNet, ModelInfo]:
    """The model of a loaded model file's or checkpoint's dict read from ``path``.

    Raises:
        WavegenError: another kind of file, or a damaged one.
    """
    if obj.get("format") not in (MODEL_FORMAT, "wavegen-checkpoint"):
        raise WavegenError(f"model file {path} is not a wavegen model or checkpoint")
    return model_from_payload(obj, f"model file {path}")


def require_label_only(info: ModelInfo, where: str, command: str) -> None:
    """Refuse a renderer (a model with local conditioning) where only the global label is
    given: without a plan it would render from an all-zero plan it never heard.

    Raises:
        WavegenError: ``info`` is a renderer; the message names what renders a plan.
    """
    if info.is_planner:
        raise WavegenError(f"{where} is a planner: it writes plans of units, not audio; pack it "
                           "with a renderer into a two-level model (wavegen pack) and give "
                           f"that to {command}")
    if info.config.n_units > 0:
        raise WavegenError(f"{where} is a renderer: it renders a plan of units, which {command} "
                           "does not have; render a clip's plan with wavegen resynth IN.wav "
                           "--model MODEL --out OUT.wav")
