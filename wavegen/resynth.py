"""``wavegen resynth``: copy synthesis through a plan. Extract a clip's units, render them.

The renderer (a WaveNet with local conditioning on units, ``model.n_units`` > 0) carries the
tokenizer it was trained with in its model file. The input, at any rate and channel count, is
mixed down and resampled to the model's rate, encoded into units (the plan) and rendered with
the genre label: the output has the input's length at the model's rate. What the render keeps
of the input (tempo, onsets, genre) is what the plan carries; this is the copy-synthesis test
vocoders report, here for a plan of 50 frames a second. ``wavegen eval-resynth``
(:mod:`wavegen.eval.copy_synthesis`) renders a test set the same way and scores it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from wavegen.audio import read_audio, resample
from wavegen.config import check_sampling
from wavegen.engine import resolve_device, resolve_engine, stream
from wavegen.errors import WavegenError
from wavegen.models.io import ModelInfo, load_model
from wavegen.models.wavenet import WaveNet
from wavegen.outputs import check_output_file
from wavegen.synth import condition_vector, output_format, write_clips
from wavegen.units.files import input_file
from wavegen.units.tokenizer import Tokenizer

log = logging.getLogger(__name__)

MAX_RESYNTH_SECONDS = 3600.0


def renderer_tokenizer(info: ModelInfo, where: str) -> Tokenizer:
    """The tokenizer a renderer's model file carries, checked against the renderer.

    Raises:
        WavegenError: a model without local conditioning or without its tokenizer, or a
            tokenizer at another rate, hop or vocabulary than the renderer's.
    """
    cfg = info.config
    if cfg.n_units <= 0:
        raise WavegenError(f"{where} renders no plan (a one-level model without local "
                           "conditioning); resynth needs a renderer trained with model.n_units "
                           "> 0 (docs/units.md); for this model use wavegen synth")
    if info.tokenizer is None:
        raise WavegenError(f"{where} has local conditioning but carries no tokenizer; it cannot "
                           "turn audio into its units: train it again with wavegen train")
    tok = Tokenizer.from_state(info.tokenizer, f"the tokenizer in {where}")
    ours = (tok.sample_rate, tok.hop, tok.n_units)
    theirs = (info.sample_rate, cfg.unit_hop, cfg.n_units)
    if ours != theirs:
        raise WavegenError(f"{where} is damaged: its tokenizer makes plans at {ours[0]} Hz, "
                           f"hop {ours[1]}, {ours[2]} units, its renderer reads {theirs[0]} Hz, "
                           f"hop {theirs[1]}, {theirs[2]} units; train it again")
    return tok


def plan_of_audio(samples: np.ndarray, tok: Tokenizer, what: str) -> torch.Tensor:
    """Unit ids (F,) long of mono audio (N,) at the tokenizer's rate (F = ceil(N / hop))."""
    return torch.from_numpy(tok.encode(samples, what=what)).long()


def sampling_settings(info: ModelInfo, where: str, temperature: float | None,
                      top_p: float | None, guidance: float | None,
                      labelled: bool = True) -> tuple[float, float, float]:
    """(temperature, top_p, guidance) of a render: the values given, else the model file's
    defaults, else 1. Without a label (``labelled`` False: the null label) guidance is 1.

    Raises:
        WavegenError: a value out of range, guidance without a label to strengthen, or
            guidance other than 1 for a model trained without conditioning dropout.
    """
    check_sampling(temperature, top_p, guidance)
    defaults = info.synth_defaults
    temperature = defaults.get("temperature", 1.0) if temperature is None else temperature
    top_p = defaults.get("top_p", 1.0) if top_p is None else top_p
    if not labelled:
        if guidance not in (None, 1.0):
            raise WavegenError("guidance needs a genre to strengthen: give --genre, or drop "
                               "--guidance")
        guidance = 1.0
    guidance = defaults.get("guidance", 1.0) if guidance is None else guidance
    check_sampling(temperature, top_p, guidance)  # a model file's defaults too
    if guidance != 1.0 and not info.null_condition:
        raise WavegenError(f"guidance other than 1 needs a model trained with conditioning "
                           f"dropout; {where} was not: use --guidance 1")
    return temperature, top_p, guidance


def render_plans(net: WaveNet, info: ModelInfo, cond: torch.Tensor, units: torch.Tensor,
                 paths: list[Path], n_samples: int, settings: tuple[float, float, float],
                 seed: int | None = None, engine: str = "auto", device: str = "cpu",
                 threads: int | None = None) -> None:
    """Render a batch of plans and write row b to ``paths[b]`` at the model's rate.

    Args:
        cond: (B, C) the global labels.
        units: (B, F) long, the plans (F * hop >= n_samples).
        settings: (temperature, top_p, guidance), from :func:`sampling_settings`.
        seed, engine, device, threads: as for :func:`wavegen.engine.stream`.
    """
    temperature, top_p, guidance = settings
    weights = net.export_weights()
    resolve_engine(engine, device, weights)  # a bad engine name fails before the bar is drawn
    chunks = stream(weights, cond, n_samples, engine=engine, temperature=temperature,
                    top_p=top_p, seed=seed, device=device, guidance=guidance,
                    local=net.local_bias(units), threads=threads)
    write_clips(chunks, [("plan", p) for p in paths], info.sample_rate, info.config.n_classes,
                n_samples)


def _read_input(inp: str | os.PathLike[str], rate: int) -> tuple[Path, np.ndarray]:
    """The input file, mono at ``rate``; a file longer than ``MAX_RESYNTH_SECONDS`` is refused
    from its header, before it is decoded."""
    path = input_file(inp, "input audio", "name the clip to re-synthesize")
    try:
        seconds = sf.info(str(path)).duration
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError):
        seconds = 0.0  # read_audio names what is wrong with it
    if seconds > MAX_RESYNTH_SECONDS:
        raise WavegenError(f"input audio {path} is {seconds:.0f} s long; resynth takes at most "
                           f"{MAX_RESYNTH_SECONDS:.0f} s: cut it first")
    samples, sr = read_audio(path)
    return path, np.clip(resample(samples, sr, rate), -1.0, 1.0)


def resynthesize(
    inp: str | os.PathLike[str],
    out: str | os.PathLike[str],
    genre: str | None = None,
    model: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    guidance: float | None = None,
    engine: str = "auto",
    device: str = "cpu",
    threads: int | None = None,
) -> Path:
    """Render the plan of ``inp`` with a renderer and write it to ``out``.

    Args:
        inp: an audio file (any rate, any channel count).
        out: the output file; its suffix picks the format (as for ``wavegen synth``).
        genre: the global label (a genre or a mix; one tag of a tag model). None: the null
            label, so the plan alone steers (needs a model trained with conditioning dropout;
            guidance is then 1).
        model: the renderer's model file (default: the packaged model, once it is two-level).
        seed, temperature, top_p, guidance, engine, device, threads: as for ``wavegen synth``
            (None takes the model file's defaults).

    Returns:
        The written path.
    """
    resolve_device(device)
    check_sampling(temperature, top_p, guidance)
    output_format(out)
    check_output_file(out)  # its folder exists: refused before the clip is encoded
    where = "the packaged model" if model is None else f"model file {model}"
    net, info = load_model(model)
    tok = renderer_tokenizer(info, where)
    if genre is None:
        if not info.null_condition:
            raise WavegenError(f"{where} was trained without conditioning dropout, so it has no "
                               "null label: give --genre")
        cond = torch.zeros(1, len(info.vocab))  # (1, C)
    else:
        cond = condition_vector(genre, info.vocab, info.label_kind)[None]  # (1, C)
    settings = sampling_settings(info, where, temperature, top_p, guidance, genre is not None)
    path, samples = _read_input(inp, info.sample_rate)
    units = plan_of_audio(samples, tok, f"input audio {path}")[None]  # (1, F)
    render_plans(net, info, cond, units, [Path(out)], samples.size, settings, seed, engine,
                 device, threads)
    log.info("re-synthesized %s (%d frames of units, %.2f s) -> %s", path, units.shape[1],
             samples.size / info.sample_rate, out)
    return Path(out)
