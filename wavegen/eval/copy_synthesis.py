"""Copy synthesis of real clips through their plans: what a renderer keeps of the music.

``wavegen eval-resynth --ref data/test --model renderer.pt --classifier C --out O``: every real
clip of ``--ref`` (an excerpt of ``seconds`` from ``start``) is encoded into units by the
renderer's own tokenizer and rendered back with its genre, once per synthesis seed, all clips
as one batch. Each seed's clips are scored by :func:`wavegen.eval.evaluate.evaluate` against
the same excerpts (conditional accuracy with the evaluation classifier, Frechet distance,
rhythm per genre), and clip by clip against their own source:

- tempo (librosa, :func:`wavegen.eval.attacks.rhythm_stats`) within ``TEMPO_TOLERANCE`` of the
  source's, over the clips whose source has a tempo;
- onset rate per genre: the mean over a genre's re-synthesized clips over the mean of their
  sources, inside ``ONSET_RATIO_RANGE``;
- whether the plan is used: teacher-forced NLL of the real excerpt with its own units, with
  the units of another clip (of the same genre where the genre has another clip), and under a
  label-only model (default: the packaged one-level model). The first two use the renderer;
  the gaps are in bits/sample.

Writes ``O/ref/`` (the excerpts as a data dir: ``wav.scp``, ``utt2genre``, ``genres.txt``,
``wav/<utt>.wav``), ``O/seed<S>/{gen/<genre>_<k>.wav, eval/eval.json}`` and
``O/copy_synthesis.json``. Everything that can be wrong with the inputs is checked before the
first file is written.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavegen.audio import read_audio, resample, write_wav
from wavegen.clipnames import clip_filename
from wavegen.data.kaldi import write_data_dir, write_vocab
from wavegen.engine import resolve_engine
from wavegen.errors import WavegenError
from wavegen.eval.attacks import rhythm_stats
from wavegen.eval.classifier import load_classifier
from wavegen.eval.evaluate import evaluate, load_labeled, plan_nll
from wavegen.models.io import load_model
from wavegen.models.wavenet import WaveNet
from wavegen.outputs import check_output_dir, write_text
from wavegen.resynth import plan_of_audio, render_plans, renderer_tokenizer, sampling_settings

log = logging.getLogger(__name__)

TEMPO_TOLERANCE = 0.05  # |tempo / source tempo - 1| at most this counts as the same tempo
ONSET_RATIO_RANGE = (0.8, 1.25)
MAX_SECONDS, MAX_START = 600.0, 3600.0


def partners(genres: list[str]) -> list[int]:
    """For each clip, the clip whose units it is also scored with: the next clip of its genre
    (cyclically), or the next clip of the list when it is the only one of its genre."""
    out = []
    for i, g in enumerate(genres):
        same = [j for j, h in enumerate(genres) if h == g]
        out.append(same[(same.index(i) + 1) % len(same)] if len(same) > 1
                   else (i + 1) % len(genres))
    return out


def copy_synthesis(
    ref: str | os.PathLike[str], model: str | os.PathLike[str],
    classifier: str | os.PathLike[str], out: str | os.PathLike[str], seconds: float = 8.0,
    start: float = 0.0, seeds: tuple[int, ...] = (1, 2, 3), guidance: float | None = None,
    temperature: float | None = None, top_p: float | None = None,
    label_only: str | os.PathLike[str] | None = None, engine: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]:
    """Re-synthesize every clip of ``ref`` with the renderer ``model`` and score it.

    Args:
        ref: the real clips, a data dir (``data/test``) or a dump, labelled by genre.
        seconds, start: the excerpt of each real clip (seconds).
        seeds: one batch of re-syntheses per seed (distinct).
        guidance, temperature, top_p: sampling (None: the model file's defaults).
        label_only: the label-only model of the NLL comparison (None: the packaged model).

    Returns:
        The contents of ``out/copy_synthesis.json``.

    Raises:
        WavegenError: before anything is written, for a bad excerpt or seed list, a model that
            is not a genre-conditioned renderer, a classifier, label-only model or ``ref`` of
            another vocabulary, fewer than 2 clips, or clips shorter than the excerpt.
    """
    if not (0 < seconds <= MAX_SECONDS and 0 <= start <= MAX_START):
        raise WavegenError(f"excerpt of {seconds} s from {start} s: give 0 < --seconds <= "
                           f"{MAX_SECONDS:g} and 0 <= --start <= {MAX_START:g}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise WavegenError(f"give one or more distinct synthesis seeds, got {list(seeds)}")
    where = f"model file {model}"
    net, info = load_model(model)
    tok = renderer_tokenizer(info, where)
    if info.label_kind != "utt2genre":
        raise WavegenError(f"{where} is conditioned on tags; copy synthesis is scored per "
                           "genre: give a genre-conditioned renderer")
    settings = sampling_settings(info, where, temperature, top_p, guidance)
    resolve_engine(engine)
    clf_vocab = load_classifier(classifier)[0].vocab
    if clf_vocab != info.vocab:
        raise WavegenError(f"classifier {classifier} has labels {clf_vocab[:4]}..., the model "
                           f"{info.vocab[:4]}...; use the classifier of the model's corpus")
    base, base_info = load_model(label_only)
    base_where = "the packaged model" if label_only is None else f"model file {label_only}"
    if base.cfg.n_units or base_info.vocab != info.vocab:
        raise WavegenError(f"the label-only model of the NLL comparison ({base_where}) must be "
                           "a one-level model of the renderer's genres; give one with "
                           "--label-only")
    rate = info.sample_rate
    clips, utts, labels, vocab, _ = load_labeled(ref, rate, start + seconds)
    if vocab != info.vocab:
        raise WavegenError(f"{ref} has labels {vocab[:4]}..., the model {info.vocab[:4]}...; "
                           "use the test set of the corpus the model was trained on")
    if len(clips) < 2:
        raise WavegenError(f"{ref} holds {len(clips)} clip(s); copy synthesis compares clips "
                           "with each other: give at least 2")
    s0, n = int(round(start * rate)), int(round(seconds * rate))
    clips = [c[s0:s0 + n] for c in clips]
    short = [u for u, c in zip(utts, clips, strict=True) if c.size < n]
    if short:
        raise WavegenError(f"{len(short)} clip(s) of {ref} are shorter than {start + seconds:g} "
                           f"s (e.g. {short[0]}); give a shorter --seconds or --start")
    genres = [lab[0] for lab in labels]
    cond = torch.stack([torch.eye(len(vocab))[vocab.index(g)] for g in genres])  # (B, C)
    units = torch.stack([plan_of_audio(c, tok, f"clip {u} of {ref}")
                         for c, u in zip(clips, utts, strict=True)])  # (B, F)

    out = check_output_dir(out)
    ref_dir = _write_excerpts(out / "ref", clips, utts, genres, vocab, rate)
    source_stats = [rhythm_stats(c, rate) for c in clips]
    per_seed = []
    for seed in seeds:
        gen_dir = out / f"seed{seed}" / "gen"
        gen_dir.mkdir(parents=True, exist_ok=True)
        paths = _clip_paths(gen_dir, genres)
        render_plans(net, info, cond, units, paths, n, settings, seed, engine, threads=threads)
        result = evaluate(gen_dir, ref_dir, classifier, out / f"seed{seed}" / "eval",
                          max_seconds=None)
        gen_clips = [resample(*read_audio(p), rate) for p in paths]
        per_seed.append(_score_seed(seed, result, gen_clips, source_stats, utts, genres, rate,
                                    paths))
        s = per_seed[-1]
        log.info("seed %d: accuracy %.1f%%, tempo within %.0f%% in %s of clips, FD %s "
                 "(real vs real %s)", seed, 100 * s["conditional_accuracy"],
                 100 * TEMPO_TOLERANCE, s["tempo_within_share"], s["fd"], s["fd_real_vs_real"])
    nll = _nll_comparison(net, base, rate, base_info.sample_rate, clips, cond, units, utts,
                          genres, base_where)
    temperature, top_p, guidance = settings
    summary = {"ref": str(ref), "excerpts": str(ref_dir), "model": str(model), "utts": utts,
               "genres": genres, "seconds": seconds, "start": start, "sampling": {
                   "temperature": temperature, "top_p": top_p, "guidance": guidance},
               "tokenizer": tok.identity(), "seeds": per_seed, "nll_bits_per_sample": nll,
               "bars": bars(per_seed, nll)}
    write_text(out / "copy_synthesis.json", json.dumps(summary, indent=1) + "\n")
    return summary


def _write_excerpts(folder: Path, clips: list[np.ndarray], utts: list[str],
                    genres: list[str], vocab: list[str], rate: int) -> Path:
    """The excerpts (model rate, 16-bit WAV) as a data dir: what the renders are scored on."""
    (folder / "wav").mkdir(parents=True, exist_ok=True)
    wav_scp = {}
    for utt, clip in zip(utts, clips, strict=True):
        wav_scp[utt] = str((folder / "wav" / f"{utt}.wav").resolve())
        write_wav(wav_scp[utt], clip, rate)
    write_data_dir(folder, wav_scp, {u: c.size / rate for u, c in zip(utts, clips, strict=True)},
                   {"utt2genre": dict(zip(utts, genres, strict=True))})
    write_vocab(folder / "genres.txt", vocab)
    return folder


def _clip_paths(gen_dir: Path, genres: list[str]) -> list[Path]:
    """``<genre>_<k>.wav`` for each clip, k counting the clips of its genre."""
    counters: dict[str, int] = {}
    paths = []
    for g in genres:
        paths.append(gen_dir / clip_filename(g, counters.get(g, 0)))
        counters[g] = counters.get(g, 0) + 1
    return paths


def _score_seed(seed: int, result: dict[str, Any], gen: list[np.ndarray],
                source_stats: list[dict[str, Any]], utts: list[str], genres: list[str],
                rate: int, files: list[Path]) -> dict[str, Any]:
    """One seed's figures: the evaluation's, and each clip against its own source."""
    clips = []
    for clip, s, utt, genre, path in zip(gen, source_stats, utts, genres, files, strict=True):
        g = rhythm_stats(clip, rate)
        ratio = g["tempo"] / s["tempo"] if g["tempo"] and s["tempo"] else None
        clips.append({"utt": utt, "genre": genre, "file": str(path), "tempo": g["tempo"],
                      "source_tempo": s["tempo"], "tempo_ratio": ratio,
                      "tempo_within": ratio is not None and abs(ratio - 1) <= TEMPO_TOLERANCE,
                      "onset_rate": g["onset_rate"], "source_onset_rate": s["onset_rate"]})
    timed = [c["tempo_within"] for c in clips if c["source_tempo"]]
    onset = {}
    for genre in sorted(set(genres)):
        rows = [c for c in clips if c["genre"] == genre]
        real = float(np.mean([c["source_onset_rate"] for c in rows]))
        ratio = float(np.mean([c["onset_rate"] for c in rows])) / real if real > 0 else None
        onset[genre] = {"ratio": ratio, "within": ratio is not None and (
            ONSET_RATIO_RANGE[0] <= ratio <= ONSET_RATIO_RANGE[1])}
    fr = result["frechet"]
    return {"seed": seed, "conditional_accuracy": result["generated"]["conditional_accuracy"],
            "per_genre_accuracy": result["generated"]["per_genre_accuracy"],
            "real_accuracy": result["real"]["accuracy"],
            "fd": fr["generated_vs_real"]["fd"], "fd_real_vs_real": fr["real_vs_real"]["fd"],
            "tempo_within_share": float(np.mean(timed)) if timed else None,
            "n_with_tempo": len(timed), "onset_rate_ratio": onset, "clips": clips}


def _nll_comparison(net: WaveNet, base: WaveNet, rate: int, base_rate: int,
                    clips: list[np.ndarray], cond: torch.Tensor, units: torch.Tensor,
                    utts: list[str], genres: list[str], base_where: str) -> dict[str, Any]:
    """Teacher-forced NLL (bits/sample) of each excerpt with its own units, its partner's
    (:func:`partners`), and under the label-only model ``base``; the means and the gaps."""
    other = partners(genres)
    # Bits per sample at another rate measure other samples: no comparison then.
    same_rate = base_rate == rate
    rows = []
    for i, clip in enumerate(clips):
        rows.append({"utt": utts[i], "other_utt": utts[other[i]],
                     "own_units": plan_nll(net, clip, cond[i], units[i]),
                     "other_clip_units": plan_nll(net, clip, cond[i], units[other[i]]),
                     "label_only": plan_nll(base, clip, cond[i], None) if same_rate else None})
    own, swapped = (float(np.mean([r[k] for r in rows])) for k in ("own_units",
                                                                    "other_clip_units"))
    label = float(np.mean([r["label_only"] for r in rows])) if same_rate else None
    if not same_rate:
        log.warning("the label-only model (%s) runs at %d Hz, the renderer at %d Hz: their "
                    "bits per sample do not compare, so the label-only NLL is left out; give "
                    "a one-level model at %d Hz with --label-only", base_where, base_rate,
                    rate, rate)
    return {"own_units": own, "other_clip_units": swapped, "label_only": label,
            "label_only_model": base_where, "gap_other": swapped - own,
            "gap_label_only": None if label is None else label - own, "clips": rows}


def _bar(value: Any, met: bool, **extra: Any) -> dict[str, Any]:
    return {"value": value, "met": bool(met), **extra}


def bars(per_seed: list[dict[str, Any]], nll: dict[str, Any]) -> dict[str, Any]:
    """The copy-synthesis bars of docs/units.md, over all seeds. A bar that cannot be
    computed (no source with a tempo, too few clips for a Frechet distance) has value None
    and is not met."""
    acc = float(np.mean([s["conditional_accuracy"] for s in per_seed]))
    per_genre = {g: float(np.mean([s["per_genre_accuracy"][g] for s in per_seed]))
                 for g in per_seed[0]["per_genre_accuracy"]}
    shares = [s["tempo_within_share"] for s in per_seed if s["tempo_within_share"] is not None]
    tempo = float(np.mean(shares)) if shares else None
    onset_ok = [all(s["onset_rate_ratio"][g]["within"] for s in per_seed)
                for g in per_seed[0]["onset_rate_ratio"]]
    fd_ratios = [s["fd"] / s["fd_real_vs_real"] for s in per_seed
                 if s["fd"] is not None and s["fd_real_vs_real"]]
    fd_ratio = max(fd_ratios) if len(fd_ratios) == len(per_seed) else None
    gaps = [nll["gap_other"], nll["gap_label_only"]]
    known = [g for g in gaps if g is not None]
    return {
        "accuracy >= 0.90": _bar(acc, acc >= 0.90),
        "every genre >= 0.80": _bar(min(per_genre.values()), min(per_genre.values()) >= 0.80,
                                    per_genre=per_genre),
        "tempo within 5% in >= 90% of clips": _bar(tempo, tempo is not None and tempo >= 0.90),
        "onset rate 0.8-1.25x per genre": _bar(f"{sum(onset_ok)} of {len(onset_ok)}",
                                               all(onset_ok)),
        "FD <= 2x real vs real": _bar(fd_ratio, fd_ratio is not None and fd_ratio <= 2.0),
        "NLL gap >= 0.3 bits (other clip's units, label-only)": _bar(
            gaps, len(known) == len(gaps) and min(known) >= 0.3),
    }
