"""Two-level model files: a planner and a renderer that share one tokenizer.

A two-level file is a ``torch.save`` dict of plain types and tensors::

    {"format": "wavegen-two-level", "version": 1,
     "planner": {a model file's dict, "level": "plan"},
     "renderer": {a model file's dict with local conditioning}}

Each part is a complete model file (:mod:`wavegen.models.io`) carrying the same tokenizer
(the same identity): the planner writes plans of its units at its frame rate, the renderer
renders plans of those units at its sample rate. Both parts are conditioned on the same
labels. Loading checks all of it, so a file that loads can generate.

:func:`load_generator` is the one loader of ``synth``-like commands: it returns a
:class:`TwoLevel` for a two-level file and ``(WaveNet, ModelInfo)`` for a one-level one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wavegen.config import check_sampling
from wavegen.errors import WavegenError
from wavegen.models.io import (
    MODEL_FORMAT,
    ModelInfo,
    atomic_torch_save,
    default_model_path,
    load_model,
    model_from_file,
    model_from_payload,
    safe_torch_load,
)
from wavegen.models.wavenet import WaveNet
from wavegen.units.tokenizer import Tokenizer

FORMAT = "wavegen-two-level"
VERSION = 1


@dataclass
class TwoLevel:
    """A loaded, checked two-level model."""

    planner: WaveNet
    planner_info: ModelInfo
    renderer: WaveNet
    renderer_info: ModelInfo
    tokenizer: Tokenizer

    @property
    def vocab(self) -> list[str]:
        return self.renderer_info.vocab

    @property
    def label_kind(self) -> str:
        return self.renderer_info.label_kind

    @property
    def sample_rate(self) -> int:
        return self.renderer_info.sample_rate

    @property
    def hop(self) -> int:
        return self.tokenizer.hop

    @property
    def n_units(self) -> int:
        return self.tokenizer.n_units

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop


def check_pair(planner_info: ModelInfo, renderer_info: ModelInfo, where: str) -> Tokenizer:
    """The shared tokenizer of a planner and a renderer that belong together.

    Raises:
        WavegenError: a part of the wrong kind, other labels, another rate, or another
            tokenizer; naming ``where``.
    """
    if not planner_info.is_planner:
        raise WavegenError(f"{where}: the planner is not a planner (train it with level: plan)")
    if renderer_info.is_planner or renderer_info.config.n_units <= 0:
        raise WavegenError(f"{where}: the renderer has no local conditioning on units (train it "
                           "with model.n_units > 0)")
    if (planner_info.vocab, planner_info.label_kind) != (renderer_info.vocab,
                                                         renderer_info.label_kind):
        raise WavegenError(f"{where}: the planner and the renderer were trained on other labels "
                           f"({', '.join(planner_info.vocab)} vs "
                           f"{', '.join(renderer_info.vocab)})")
    if planner_info.sample_rate != renderer_info.sample_rate:
        raise WavegenError(f"{where}: the planner plans at {planner_info.sample_rate} Hz, the "
                           f"renderer renders at {renderer_info.sample_rate} Hz")
    if planner_info.tokenizer is None or renderer_info.tokenizer is None or (
            planner_info.tokenizer["identity"] != renderer_info.tokenizer["identity"]):
        raise WavegenError(f"{where}: the planner and the renderer were trained on the units of "
                           "different tokenizers; train both on the same units stage")
    tok = Tokenizer.from_state(renderer_info.tokenizer, f"the tokenizer in {where}")
    if (tok.n_units, tok.hop, tok.sample_rate) != (
            renderer_info.config.n_units, renderer_info.config.unit_hop,
            renderer_info.sample_rate):
        raise WavegenError(f"{where} is damaged: its tokenizer ({tok.n_units} units, hop "
                           f"{tok.hop}, {tok.sample_rate} Hz) is not the renderer's")
    return tok


def pack(planner: str | os.PathLike[str], renderer: str | os.PathLike[str],
         out: str | os.PathLike[str], sampling: dict[str, float] | None = None) -> Path:
    """Write the two-level file of a planner and a renderer model file (or checkpoint).

    ``sampling``: the planner's stored sampling defaults to replace (``temperature``,
    ``top_p``, ``guidance``; the ones ``synth`` and ``live`` use when no flag is given), e.g.
    the settings chosen on the validation set after training.

    Raises:
        WavegenError: either file does not load, they do not belong together, or a sampling
            value is out of range (or guidance without the planner's null label).
    """
    sampling = {k: v for k, v in (sampling or {}).items() if v is not None}
    unknown = sorted(set(sampling) - {"temperature", "top_p", "guidance"})
    if unknown:
        raise WavegenError(f"pack: unknown sampling setting(s) {', '.join(unknown)}")
    check_sampling(**sampling)
    p_net, p_info = load_model(planner)
    r_net, r_info = load_model(renderer)
    check_pair(p_info, r_info, f"{planner} and {renderer}")
    if sampling.get("guidance", 1.0) != 1.0 and not p_info.null_condition:
        raise WavegenError(f"guidance {sampling['guidance']} needs a planner trained with "
                           "conditioning dropout (train.cond_dropout > 0); this one was not")
    parts = {}
    for name, path in (("planner", planner), ("renderer", renderer)):
        obj = safe_torch_load(path, "model file")
        # A checkpoint's averaged weights are the model; what only a resume needs is dropped.
        state = obj.get("ema_state_dict") or obj["state_dict"]
        parts[name] = {k: v for k, v in obj.items()
                       if k not in ("optimizer", "scheduler", "data_rng", "train_config",
                                    "ema_state_dict", "state_dict", "skipped",
                                    "best_valid_bits", "step")}
        parts[name].update(format=MODEL_FORMAT, state_dict=state)
    parts["planner"]["synth_defaults"] = {**parts["planner"].get("synth_defaults", {}),
                                          **sampling}
    out = Path(out)
    atomic_torch_save({"format": FORMAT, "version": VERSION, **parts}, out)
    return out


def two_level_from_payload(obj: dict, where: str) -> TwoLevel:
    """Build and check a two-level model from its file's dict."""
    if obj.get("version") != VERSION:
        raise WavegenError(f"{where} is a two-level model of version {obj.get('version')!r}; "
                           f"this wavegen reads version {VERSION}")
    parts = []
    for name in ("planner", "renderer"):
        part = obj.get(name)
        if not isinstance(part, dict):
            raise WavegenError(f"{where} is damaged: it has no {name}")
        parts.append(model_from_payload(part, f"the {name} in {where}"))
    (p_net, p_info), (r_net, r_info) = parts
    tok = check_pair(p_info, r_info, where)
    return TwoLevel(p_net, p_info, r_net, r_info, tok)


def load_generator(path: str | os.PathLike[str] | None = None
                   ) -> TwoLevel | tuple[WaveNet, ModelInfo]:
    """A model file of either kind (default: the packaged model): a :class:`TwoLevel`, or a
    one-level ``(WaveNet, ModelInfo)`` as :func:`wavegen.models.io.load_model` gives."""
    path = Path(path) if path is not None else default_model_path()
    obj = safe_torch_load(path, "model file")
    if obj.get("format") == FORMAT:
        return two_level_from_payload(obj, f"model file {path}")
    return model_from_file(obj, path)  # the file is read once
