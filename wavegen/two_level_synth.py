"""Generation with a two-level model: the planner writes a plan of units, the renderer plays it.

Both levels run through the same engines (:func:`wavegen.engine.stream`). The planner steps
at the frame rate (50 frames/s for hop 160 at 8 kHz) over its K + 1 codes
(:mod:`wavegen.units.codes`); its plan (B, F) becomes the renderer's local conditioning, and the
renderer steps at the sample rate, sample n reading frame ``n // hop``.

What acts where:

- the label (genre, mix, morph over time, tags) conditions both levels; a morph moves both,
  each at its own step (:func:`wavegen.engine.controls.control_every`);
- temperature, top-p and guidance given on the command line or in an automation file are the
  planner's (the level that decides tempo, groove and harmony); the renderer samples with the
  defaults stored in its own part of the model file;
- a primer primes both levels: the planner continues the primer's units (its plan under the
  model's tokenizer), the renderer continues its samples; the primer is cut to whole frames
  (its first ``len % hop`` samples are dropped);
- a given plan (``--plan``) replaces the planner: it must cover the clip.

Seeds: the renderer draws from ``seed`` like a one-level model; the planner from a second
stream derived from it (:func:`planner_seed`), so one seed reproduces both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from wavegen.engine import stream
from wavegen.engine.controls import control_every
from wavegen.errors import WavegenError
from wavegen.models.io import ModelInfo
from wavegen.models.two_level import TwoLevel
from wavegen.models.wavenet import WaveNet
from wavegen.units.codes import codes_to_units, fill_starts, units_to_codes
from wavegen.units.store import n_frames_for

SamplingAt = Callable[[float], tuple[float, float, float]]  # seconds -> (temp, top_p, guidance)
CondAt = Callable[[float], torch.Tensor]  # seconds -> (B, C)


def planner_seed(seed: int | None) -> int | None:
    """The planner's seed, derived from the clip's ``seed`` (None: unseeded)."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), 1]).generate_state(1)[0])


def plan_units(two: TwoLevel | Planner, cond: torch.Tensor, n_frames: int, *, temperature: float,
               top_p: float, guidance: float, guided: bool, seed: int | None,
               cond_at: CondAt | None = None, sampling_at: SamplingAt | None = None,
               primer_units: torch.Tensor | None = None, engine: str = "auto",
               device: str = "cpu", threads: int | None = None) -> torch.Tensor:
    """Draw ``n_frames`` frames of a plan per row from the planner.

    Args:
        cond: (B, C) the label at the start (conditions a primer's frames).
        cond_at, sampling_at: the label and the sampling settings over time, by seconds
            from the first generated frame.
        primer_units: (B, Fp) long unit ids the plan continues (teacher-forced first).

    Returns:
        (B, n_frames) long unit ids in [0, K) (a frame drawn as the start symbol holds the
        one before it: :func:`wavegen.units.codes.fill_starts`).
    """
    K, rate = two.n_units, two.frame_rate
    if isinstance(two, TwoLevel):
        two = Planner(two.planner, K, rate)
    primer = None if primer_units is None else units_to_codes(primer_units, K)
    frame_cond = None if cond_at is None else (lambda f: cond_at(f / rate))
    frame_sampling = None if sampling_at is None else (lambda f: sampling_at(f / rate))
    chunks = stream(two.planner.export_weights(), cond, n_frames, engine=engine,
                    temperature=temperature, top_p=top_p, guidance=guidance, guided=guided,
                    seed=planner_seed(seed), primer=primer, cond_at=frame_cond,
                    sampling_at=frame_sampling, control_every=control_every(rate),
                    device=device, threads=threads, chunk_size=max(1, n_frames))
    return fill_starts(codes_to_units(torch.cat(list(chunks), 1), K))


@dataclass
class Planner:
    """A planner on its own (:func:`planner_of` a planner's model file): the network, its K
    units and its frame rate."""

    planner: WaveNet
    n_units: int
    frame_rate: float


def planner_of(net: WaveNet, info: ModelInfo, where: str) -> Planner:
    """The :class:`Planner` of a loaded planner model file.

    Raises:
        WavegenError: the file is not a planner.
    """
    if not info.is_planner or info.tokenizer is None:
        raise WavegenError(f"{where} is not a planner (a model trained with level: plan)")
    return Planner(net, info.config.n_classes - 1, info.step_rate)


def render_plan(two: TwoLevel, cond: torch.Tensor, units: torch.Tensor, n_samples: int, *,
                seed: int | None, cond_at: CondAt | None = None,
                primer_codes: torch.Tensor | None = None, engine: str = "auto",
                device: str = "cpu", threads: int | None = None) -> Iterator[torch.Tensor]:
    """Stream the renderer's mu-law codes (B, <= chunk) for ``units`` (B, F): the plan of the
    primer's frames (if any) and then of the ``n_samples`` new samples (frames past them are
    what the last frames' biases look ahead to), with the renderer's stored sampling
    defaults.

    Raises:
        WavegenError: the plan does not cover the primer and the samples; a renderer whose
            stored guidance needs a null label it lacks.
    """
    info = two.renderer_info
    n_primer = 0 if primer_codes is None else primer_codes.shape[1]
    need = n_frames_for(n_primer + n_samples, two.hop)
    if units.shape[1] < need:
        raise WavegenError(f"the plan has {units.shape[1]} frames; {n_primer + n_samples} "
                           f"samples at hop {two.hop} need {need}")
    defaults = info.synth_defaults
    temperature = defaults.get("temperature", 1.0)
    top_p = defaults.get("top_p", 1.0)
    guidance = defaults.get("guidance", 1.0)
    if guidance != 1.0 and not info.null_condition:
        raise WavegenError("the renderer of this model file stores guidance "
                           f"{guidance} but has no null label; the file is damaged")
    rate = info.sample_rate
    sample_cond = None if cond_at is None else (lambda n: cond_at(n / rate))
    return stream(two.renderer.export_weights(), cond, n_samples, engine=engine,
                  temperature=temperature, top_p=top_p, guidance=guidance,
                  guided=guidance != 1.0, seed=seed, primer=primer_codes, cond_at=sample_cond,
                  control_every=control_every(rate), device=device, threads=threads,
                  local=two.renderer.local_bias(units).to(device))

