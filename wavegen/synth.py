"""``wavegen synth``: render conditioned clips to audio files (16-bit WAV by default), streaming.

All requested clips run as one batch through one engine; each chunk of generated samples is
appended to its file as soon as it exists, so memory does not grow with clip length. Files are
written under temporary names and renamed when complete: an interrupted run leaves nothing under
the requested names.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from wavegen.audio import mu_law_decode, mu_law_encode, read_audio, resample
from wavegen.automation import SAMPLING_TRACKS, Automation, load_automation
from wavegen.clipnames import clip_filename
from wavegen.config import check_sampling
from wavegen.engine import resolve_device, resolve_engine, stream
from wavegen.engine.controls import control_every
from wavegen.errors import WavegenError
from wavegen.models.conditioning import (
    parse_genre_mix,
    parse_tags,
    parse_trajectory,
    trajectory_value,
)
from wavegen.models.io import require_label_only
from wavegen.models.two_level import TwoLevel, load_generator
from wavegen.outputs import atomic_output, check_output_dir, check_output_file, write_failure
from wavegen.progress import progress
from wavegen.two_level_synth import plan_units, render_plan
from wavegen.units.plan import Plan, make_plan, read_plan, write_plan
from wavegen.units.store import n_frames_for

log = logging.getLogger(__name__)

# --out suffix -> (soundfile format, subtype). libsndfile writes all of them chunk by chunk.
OUTPUT_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"),
                  ".ogg": ("OGG", "VORBIS"), ".mp3": ("MP3", "MPEG_LAYER_III")}


def output_format(path: str | os.PathLike[str]) -> tuple[str, str]:
    """The (format, subtype) an output file's suffix names.

    Raises:
        WavegenError: a suffix wavegen does not write (or none).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise WavegenError(f"--out {path}: the suffix picks the format; wavegen writes "
                           f"{', '.join(OUTPUT_FORMATS)}, got '{suffix or 'no suffix'}'")
    return OUTPUT_FORMATS[suffix]


def plan_outputs(
    genre: str, vocab: list[str], out: str | None, out_dir: str | None, count: int,
    expand_all: bool = True,
) -> list[tuple[str, Path]]:
    """Resolve ``--genre`` / ``--out`` / ``--out-dir`` / ``--count`` into (genre spec, path);
    ``all`` means every genre of ``vocab`` when ``expand_all``."""
    if count < 1:
        raise WavegenError(f"--count must be >= 1, got {count}")
    specs = list(vocab) if genre == "all" and expand_all else [genre]
    if out is not None and out_dir is not None:
        raise WavegenError("give --out FILE (one clip) or --out-dir DIR, not both")
    if out is not None and (len(specs) > 1 or count > 1):
        raise WavegenError("--out names one file; for several clips use --out-dir DIR")
    if out is not None:
        output_format(out)
        return [(genre, Path(out))]
    if out_dir is None:
        raise WavegenError("give --out FILE (one clip: .wav, .flac, .ogg or .mp3) or --out-dir "
                           "DIR (several clips)")
    folder = check_output_dir(out_dir)  # made if missing
    return [(spec, folder / clip_filename(spec, k)) for spec in specs for k in range(count)]


def condition_vector(spec: str, vocab: list[str], label_kind: str, from_tags: bool = False
                     ) -> torch.Tensor:
    """The (C,) conditioning vector of one clip's ``--genre`` or ``--tags`` spec.

    A genre model takes a genre or a convex mix; a tag model (``label_kind`` ``utt2tags``)
    takes a multi-hot tag set, and ``--genre X`` means the single tag X.
    """
    if label_kind != "utt2tags":
        if from_tags:
            raise WavegenError("this model is conditioned on genres, not tags: use --genre; "
                               f"known genres: {', '.join(vocab)}")
        return parse_genre_mix(spec, vocab)
    if not from_tags and ("," in spec or ":" in spec):
        raise WavegenError(f"this model is conditioned on tags: --genre takes one tag, got "
                           f"'{spec}'; give several with --tags 'rock,guitar,fast'")
    return parse_tags(spec, vocab)


def conditioning_track(spec: str, vocab: list[str], label_kind: str, from_tags: bool = False
                       ) -> Callable[[float], torch.Tensor]:
    """One clip's conditioning as a function of time in seconds -> (C,): constant for a
    plain spec, moving for a trajectory such as ``rock@0,jazz@4,metal@8``
    (:func:`wavegen.models.conditioning.parse_trajectory`)."""
    if "@" not in spec:
        vec = condition_vector(spec, vocab, label_kind, from_tags)
        return lambda seconds: vec
    points = parse_trajectory(spec, lambda point: condition_vector(point, vocab, label_kind,
                                                                   from_tags))
    return lambda seconds: trajectory_value(points, seconds)


def settings_track(auto: Automation, rate: int, defaults: tuple[float, float, float]
                   ) -> Callable[[int], tuple[float, float, float]]:
    """Sample index -> (temperature, top_p, guidance) of an automation file, ``defaults``
    where it has no such track."""
    def at(t: int) -> tuple[float, float, float]:
        temperature, top_p, guidance = (auto.setting_at(name, t / rate, d)
                                        for name, d in zip(SAMPLING_TRACKS, defaults, strict=True))
        return temperature, top_p, guidance
    return at


def write_clips(chunks: Iterator[torch.Tensor], plan: list[tuple[str, Path]], rate: int,
                n_classes: int, n_samples: int) -> None:
    """Decode code chunks (B, n) and append row b to ``plan[b]``'s file as they come, under
    temporary names renamed when all are complete; a progress bar shows the speed."""
    bar = progress(total=n_samples, unit="sample", unit_scale=True, desc="synth")
    start = time.perf_counter()
    with ExitStack() as stack:
        files, tmps = [], []
        for _, path in plan:
            fmt, subtype = output_format(path)
            tmps.append(stack.enter_context(atomic_output(path, suffix=path.suffix)))
            files.append(stack.enter_context(
                sf.SoundFile(str(tmps[-1]), "w", rate, 1, subtype, format=fmt)))
        for chunk in chunks:
            audio = mu_law_decode(chunk, n_classes).numpy()  # (B, n)
            for fh, row, tmp, (_, path) in zip(files, audio, tmps, plan, strict=True):
                try:
                    fh.write(row)
                except sf.LibsndfileError as err:  # a full disk
                    raise write_failure(path, tmp, err) from err
            bar.update(chunk.shape[1])
            speed = bar.n / (time.perf_counter() - start) / rate
            bar.set_postfix_str(f"{speed:.2f}x real time")
        for fh in files:
            fh.close()
    bar.close()


def load_primer(path: str | os.PathLike[str], rate: int, n_classes: int, rows: int
                ) -> torch.Tensor:
    """Read ``--prime`` into mu-law codes at the model's rate, one copy per clip: (rows, T)."""
    samples, sr = read_audio(path)
    samples = np.clip(resample(samples, sr, rate), -1.0, 1.0)
    codes = mu_law_encode(torch.from_numpy(np.ascontiguousarray(samples)), n_classes)  # (T,)
    return codes.long().expand(rows, -1)


def synthesize(
    genre: str | None,
    duration: float,
    out: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    count: int = 1,
    model: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    engine: str = "auto",
    device: str = "cpu",
    guidance: float | None = None,
    tags: str | None = None,
    prime: str | os.PathLike[str] | None = None,
    automation: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    plan_out: str | os.PathLike[str] | None = None,
    plan_in: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Generate clips and write them at the model's rate: 16-bit PCM WAV, or the format the
    suffix of ``out`` names (``OUTPUT_FORMATS``: .wav, .flac, .ogg, .mp3).

    Args:
        genre: a genre, a mix ``rock:0.7,jazz:0.3``, or ``all`` (every genre); for a tag
            model one tag, or ``all`` (each tag alone).
        duration: seconds per clip (exact: ``round(duration * rate)`` samples).
        out: the output file, for one clip.
        out_dir: the output folder, for several clips (``<genre>_<k>.wav``).
        count: clips per genre.
        model: model file or checkpoint; default the packaged default model.
        seed: makes the output reproducible.
        temperature, top_p, guidance: sampling controls; None takes the model file's
            defaults (``synth:`` in its training config), else 1.
        tags: for a tag model (MagnaTagATune), the tags of the clips: ``rock,guitar,fast``;
            give either ``genre`` or ``tags``.
        prime: an audio file every clip continues: resampled to the model's rate, mu-law
            encoded and teacher-forced through the engine to fill its caches; the WAVs hold
            the continuation only.
        automation: instead of ``genre``/``tags``, a JSON file of time points for the
            conditioning and the sampling settings (:mod:`wavegen.automation`); clips are
            named after the file.
        threads: cores the ``cpu`` engine uses (default: all). Its samples depend on the
            count, so rendering a ``wavegen live`` take again takes the take's count.
        plan_out: a two-level model: write each clip's plan of units (JSON plan files,
            :mod:`wavegen.units.plan`): the file with ``out``, a folder of
            ``<clip>.plan.json`` with ``out_dir``.
        plan_in: a two-level model: render this plan file instead of drawing one from the
            planner (every clip renders it; ``duration`` None: the plan's length).

    A two-level model (:mod:`wavegen.models.two_level`) plans first, then renders; what each
    setting acts on is said in :mod:`wavegen.two_level_synth`. ``duration`` None is 5 s (the
    plan's length with ``plan_in``).

    Returns:
        The written paths.
    """
    if sum(x is not None for x in (genre, tags, automation)) != 1:
        raise WavegenError("give one of --genre, --tags or --automation")
    if duration is not None and not 0 < duration < math.inf:
        raise WavegenError(f"--duration must be a finite number > 0, got {duration}")
    resolve_device(device)
    check_sampling(temperature, top_p, guidance)  # the flags given (None: the model's)
    where = "the packaged model" if model is None else f"model file {model}"
    loaded = load_generator(model)
    two = loaded if isinstance(loaded, TwoLevel) else None
    if two is None:
        assert not isinstance(loaded, TwoLevel)
        net, info = loaded
        require_label_only(info, where, "wavegen synth")
        if plan_out is not None or plan_in is not None:
            raise WavegenError(f"--plan and --plan-out need a two-level model; {where} is a "
                               "one-level model (it has no planner)")
    else:  # the labels and the rate are the renderer's; the sampling settings the planner's
        info = dataclasses.replace(two.renderer_info,
                                   null_condition=two.planner_info.null_condition,
                                   synth_defaults=two.planner_info.synth_defaults)
    given_plan = None
    if plan_in is not None:
        assert two is not None
        given_plan = read_plan(plan_in)
        given_plan.check(two.sample_rate, two.hop, two.n_units, where)
        if given_plan.tokenizer != two.tokenizer.identity():
            raise WavegenError(f"--plan {plan_in} holds the units of another tokenizer "
                               f"({given_plan.tokenizer.get('hash')!r}, {where}'s is "
                               f"{two.tokenizer.identity().get('hash')!r}): its unit ids mean "
                               "other sounds; make the plan with this model (wavegen synth "
                               "--plan-out, or wavegen units clip with its tokenizer)")
        if duration is None:
            duration = given_plan.n_frames * two.hop / two.sample_rate
    duration = 5.0 if duration is None else duration
    defaults = info.synth_defaults
    temperature = defaults.get("temperature", 1.0) if temperature is None else temperature
    top_p = defaults.get("top_p", 1.0) if top_p is None else top_p
    guidance = defaults.get("guidance", 1.0) if guidance is None else guidance
    check_sampling(temperature, top_p, guidance)  # a model file's defaults too
    auto = None if automation is None else load_automation(
        automation, lambda s: condition_vector(s, info.vocab, info.label_kind,
                                               info.label_kind == "utt2tags"), info.label_kind)
    guided = guidance != 1.0 if auto is None else auto.guided(guidance,
                                                                   info.null_condition)
    if guided and not info.null_condition:
        raise WavegenError(
            "guidance other than 1 (--guidance, the model's default or the automation file) "
            "needs a model trained with conditioning dropout (train.cond_dropout > 0); this "
            "model was not: use --guidance 1")
    if tags is not None and tags.strip() == "all":
        raise WavegenError("--tags takes tag names; for one clip per tag use --genre all")
    spec = Path(automation).stem if automation is not None else tags or genre or ""
    plan = plan_outputs(spec, info.vocab, None if out is None else str(out),
                        None if out_dir is None else str(out_dir), count,
                        expand_all=automation is None)
    rate = info.sample_rate
    tracks = ([auto.cond_at] * len(plan) if auto is not None else
              [conditioning_track(s, info.vocab, info.label_kind, tags is not None)
               for s, _ in plan])
    cond = torch.stack([track(0.0) for track in tracks])  # (B, C)
    moving = auto is not None or any("@" in s for s, _ in plan)
    cond_at = ((lambda t: torch.stack([track(t / rate) for track in tracks])) if moving
               else None)
    sampling_at = None
    if auto is not None:
        sampling_at = settings_track(auto, rate, (temperature, top_p, guidance))
        temperature, top_p, guidance = sampling_at(0)
    n_samples = int(round(duration * info.sample_rate))
    if n_samples < 1:
        raise WavegenError(f"--duration {duration} is shorter than one sample")
    if two is not None:
        plan_files = plan_paths(plan_out, plan, out is not None)
        render_two_level(two, plan, cond, n_samples, tracks if moving else None, seed=seed,
                         temperature=temperature, top_p=top_p, guidance=guidance,
                         guided=guided, sampling_at=sampling_at, prime=prime,
                         given_plan=given_plan, plan_files=plan_files, engine=engine,
                         device=device, threads=threads)
        paths = [p for _, p in plan]
        log.info("wrote %d clip(s) of %.2f s at %d Hz", len(paths), n_samples / rate, rate)
        return paths
    primer = None if prime is None else load_primer(prime, info.sample_rate,
                                                    info.config.n_classes, len(plan))
    weights = net.export_weights()
    resolve_engine(engine, device, weights)  # a bad engine name fails before the bar is drawn
    chunks = stream(weights, cond, n_samples, engine=engine, temperature=temperature,
                    top_p=top_p, seed=seed, device=device, guidance=guidance, primer=primer,
                    cond_at=cond_at, control_every=control_every(rate),
                    sampling_at=sampling_at, guided=guided, threads=threads)
    write_clips(chunks, plan, rate, info.config.n_classes, n_samples)
    paths = [p for _, p in plan]
    log.info("wrote %d clip(s) of %.2f s at %d Hz", len(paths), n_samples / info.sample_rate,
             info.sample_rate)
    return paths


def plan_paths(plan_out: str | os.PathLike[str] | None, plan: list[tuple[str, Path]],
               one_file: bool) -> list[Path] | None:
    """Where each clip's plan goes: ``plan_out`` itself for one clip written with ``--out``
    (``one_file``), else ``plan_out/<clip>.plan.json`` (the folder made if missing); None
    without ``plan_out``."""
    if plan_out is None:
        return None
    if one_file:
        return [check_output_file(plan_out)]
    folder = check_output_dir(plan_out)
    return [folder / f"{path.stem}.plan.json" for _, path in plan]


def render_two_level(two: TwoLevel, plan: list[tuple[str, Path]], cond: torch.Tensor,
                     n_samples: int, tracks: Sequence[Callable[[float], torch.Tensor]] | None, *,
                     seed: int | None, temperature: float, top_p: float, guidance: float,
                     guided: bool, sampling_at: Callable[[int], tuple[float, float, float]]
                     | None, prime: str | os.PathLike[str] | None, given_plan: Plan | None,
                     plan_files: list[Path] | None, engine: str, device: str,
                     threads: int | None) -> None:
    """Plan (or take ``given_plan``), render and write the clips of ``plan`` with a two-level
    model; each clip's plan goes to ``plan_files`` when given. ``tracks``: each clip's label
    over seconds (None: constant ``cond``); ``sampling_at``: the planner's settings by
    sample index of the renderer's rate."""
    rate, hop, B = two.sample_rate, two.hop, cond.shape[0]
    primer_codes = primer_units = None
    if prime is not None:
        primer_codes = load_primer(prime, rate, two.renderer.cfg.n_classes, B)
        whole = primer_codes.shape[1] // hop * hop
        if whole < hop:
            raise WavegenError(f"--prime {prime} is shorter than one frame of the plan ({hop} "
                               f"samples at {rate} Hz)")
        primer_codes = primer_codes[:, primer_codes.shape[1] - whole:]
        audio = mu_law_decode(primer_codes[:1], two.renderer.cfg.n_classes)[0].numpy()
        primer_units = torch.from_numpy(
            two.tokenizer.encode(audio, what=f"--prime {prime}")).long().expand(B, -1)
    n_frames = n_frames_for(n_samples, hop)
    cond_at = None if tracks is None else (
        lambda t: torch.stack([track(t) for track in tracks]))
    resolve_engine(engine, device, two.renderer.export_weights())
    if given_plan is not None:
        if given_plan.n_frames < n_frames:
            raise WavegenError(f"the plan has {given_plan.n_frames} frames "
                               f"({given_plan.seconds:.2f} s); --duration "
                               f"{n_samples / rate:.2f} s needs {n_frames}")
        # Whole: frames past the clip are what its last frames look ahead to.
        units = torch.from_numpy(given_plan.units).long().expand(B, -1)
    else:
        settings = None if sampling_at is None else (lambda t: sampling_at(int(t * rate)))
        units = plan_units(two, cond, n_frames, temperature=temperature, top_p=top_p,
                           guidance=guidance, guided=guided, seed=seed, cond_at=cond_at,
                           sampling_at=settings, primer_units=primer_units, engine=engine,
                           device=device, threads=threads)
    full = units if primer_units is None else torch.cat([primer_units, units], 1)
    chunks = render_plan(two, cond, full, n_samples, seed=seed, cond_at=cond_at,
                         primer_codes=primer_codes, engine=engine, device=device,
                         threads=threads)
    write_clips(chunks, plan, rate, two.renderer.cfg.n_classes, n_samples)
    if plan_files is not None:
        identity = two.tokenizer.identity()
        for row, path in zip(units, plan_files, strict=True):
            write_plan(path, make_plan(row.numpy(), identity))
