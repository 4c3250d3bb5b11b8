"""Choose the unit tokenizer's features, frame rate and K by cheap proxies, on a dump.

    python benchmarks/units_choice.py egs/toy/v1/dump60 \
        --json benchmarks/results/units_choice.json

For every combination of feature set (``--features``, e.g. ``mel onset,chroma,mel:2``), frame
rate (``--rates``, Hz: the hop is ``rate / Hz``) and number of units (``--units``), a tokenizer
is fitted on ``--train-clips`` training clips (an equal number per genre, seeded) and scored
on the valid clips:

* ``genre``: how much genre information the unit sequence keeps. Each clip becomes its unit
  histogram; a genre is the mean square-rooted histogram of its training clips, and a valid
  clip is given the genre nearest to its own (Euclidean distance of square roots: the
  Hellinger distance). Accuracy over the valid clips (chance: 1 / genres).
* ``env r``: how much rhythm survives quantization. The onset envelope read back from the
  units' centroids (:func:`wavegen.units.features.onset_envelope` of ``Tokenizer.decode``: the
  onset bands, or the log-mel rise for tokenizers without them) against the same envelope
  from the clip's unquantized features: Pearson correlation, mean over clips.
* ``tempo``: the fraction of valid clips whose tempo (librosa's estimate on the units' onset
  envelope at the frame rate) lies within 8% of the tempo librosa finds on the audio itself
  (``wavegen.eval.attacks.rhythm_stats``: its own onset envelope, 16 ms hop), counting half
  and double tempo as agreeing (the usual octave tolerance).
* ``q err``: the quantization error, the mean squared distance of a valid frame to its
  centroid over the frames' total variance, in the tokenizer's standardized units (1 - R^2;
  comparable between rates and K of one feature set, not between feature sets).
* ``use``: how evenly the units are used on valid (the perplexity of their distribution / K);
  ``rep``: the fraction of frames whose unit repeats the previous one; ``bits/s``: the
  unigram entropy of the units times the frame rate (what a planner must model at most).

Rows ``raw`` score the unquantized features of each feature set and rate (the clip's mean
feature vector for ``genre``, the unquantized envelope for ``tempo``): the ceiling the units
are measured against. Fits use at most ``--max-frames`` frames. The CPU model and timings are
printed with the table and stored in the JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavegen.data.dump import DumpStore
from wavegen.eval.attacks import rhythm_stats
from wavegen.units.features import (
    FeatureSpec,
    Standardizer,
    frame_features,
    onset_envelope,
    parse_features,
)
from wavegen.units.tokenizer import Tokenizer, dump_audio, fit_on_frames

TEMPO_TOLERANCE = 0.08  # relative


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def pick_clips(store: DumpStore, count: int | None, seed: int) -> list[str]:
    """``count`` utterances (all if None), an equal share per label, seeded."""
    if count is None or count >= len(store.utts):
        return list(store.utts)
    by_label: dict[str, list[str]] = {}
    for utt in store.utts:
        by_label.setdefault(store.labels[utt], []).append(utt)
    gen = np.random.default_rng(seed)
    share = max(1, count // len(by_label))
    return sorted(u for utts in by_label.values()
                  for u in gen.permutation(utts)[:share].tolist())


def tempo_agrees(got: float | None, want: float | None) -> bool:
    if not got or not want:
        return False
    return any(abs(got * f / want - 1.0) <= TEMPO_TOLERANCE for f in (0.5, 1.0, 2.0))


def envelope_tempo(env: torch.Tensor, rate: int, hop: int) -> float | None:
    import librosa

    x = env.double().numpy()
    if x.size < 8 or float(x.std()) == 0.0:
        return None
    return float(librosa.feature.tempo(onset_envelope=x, sr=rate, hop_length=hop)[0])


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else 0.0


def nearest_genre(train: list[np.ndarray], train_y: list[str], valid: list[np.ndarray],
                  valid_y: list[str]) -> float:
    """Accuracy of a nearest-class-mean classifier (Euclidean)."""
    labels = sorted(set(train_y))
    means = np.stack([np.mean([v for v, y in zip(train, train_y, strict=True) if y == lab],
                              axis=0) for lab in labels])
    hits = [labels[int(np.argmin(((means - v) ** 2).sum(axis=1)))] == y
            for v, y in zip(valid, valid_y, strict=True)]
    return float(np.mean(hits))


def unit_stats(ids: list[np.ndarray], n_units: int, frame_rate: float) -> dict[str, float]:
    flat = np.concatenate(ids)
    p = np.bincount(flat, minlength=n_units) / flat.size
    entropy = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
    repeats = sum(int((x[1:] == x[:-1]).sum()) for x in ids) / sum(x.size - 1 for x in ids)
    return {"use": 2 ** entropy / n_units, "rep": repeats, "bits_per_s": entropy * frame_rate}


def score(tok: Tokenizer, train: dict[str, Any], valid: dict[str, Any]) -> dict[str, Any]:
    """The proxies of one tokenizer (see the module docstring)."""
    k, spec = tok.n_units, tok.spec
    hists: dict[str, list[np.ndarray]] = {"train": [], "valid": []}
    for name, side in (("train", train), ("valid", valid)):
        for z in side["z"]:
            ids = tok.quantize(z)[0].numpy()
            hists[name].append(np.sqrt(np.bincount(ids, minlength=k) / ids.size))
    valid_ids, env_r, tempo_ok, err, var = [], [], [], 0.0, 0.0
    for z, raw, ref in zip(valid["z"], valid["raw"], valid["tempo"], strict=True):
        ids, sq = tok.quantize(z)
        valid_ids.append(ids.numpy())
        env_units = onset_envelope(tok.decode(ids))
        env_raw = onset_envelope({g: raw[:, s] for g, s in spec.slices.items()})
        env_r.append(pearson(env_units, env_raw))
        tempo_ok.append(tempo_agrees(envelope_tempo(env_units, spec.sample_rate, spec.hop), ref))
        err += float(sq.sum())
        var += float((z - valid["mean"]).square().sum())
    return {"genre": nearest_genre(hists["train"], train["y"], hists["valid"], valid["y"]),
            "env_r": float(np.mean(env_r)), "tempo": float(np.mean(tempo_ok)),
            "q_err": err / var, **unit_stats(valid_ids, k, spec.frame_rate)}


def raw_scores(spec: FeatureSpec, train: dict[str, Any], valid: dict[str, Any]
               ) -> dict[str, Any]:
    """The unquantized features' proxies (the ceiling)."""
    means = {name: [z.mean(dim=0).numpy() for z in side["z"]]
             for name, side in (("train", train), ("valid", valid))}
    tempo_ok = [tempo_agrees(envelope_tempo(onset_envelope(
        {g: raw[:, s] for g, s in spec.slices.items()}), spec.sample_rate, spec.hop), ref)
        for raw, ref in zip(valid["raw"], valid["tempo"], strict=True)]
    return {"genre": nearest_genre(means["train"], train["y"], means["valid"], valid["y"]),
            "env_r": 1.0, "tempo": float(np.mean(tempo_ok))}


def features_of(store: DumpStore, utts: list[str], spec: FeatureSpec) -> list[torch.Tensor]:
    return [frame_features(dump_audio(store.audio(u)), spec, what=u) for u in utts]


def run(dump: Path, feature_sets: list[str], rates: list[float], units: list[int],
        train_clips: int | None, valid_clips: int | None, max_frames: int,
        seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    train_store, valid_store = DumpStore(dump / "train"), DumpStore(dump / "valid")
    sr = train_store.sample_rate
    train_utts = pick_clips(train_store, train_clips, seed)
    valid_utts = pick_clips(valid_store, valid_clips, seed)
    ref_tempo = [rhythm_stats(dump_audio(valid_store.audio(u)), sr)["tempo"] for u in valid_utts]
    rows = []
    for fname in feature_sets:
        for hz in rates:
            spec = FeatureSpec(sr, round(sr / hz), *parse_features(fname))
            t0 = time.perf_counter()
            train_raw = features_of(train_store, train_utts, spec)
            valid_raw = features_of(valid_store, valid_utts, spec)
            feature_s = time.perf_counter() - t0
            frames = torch.cat(train_raw)
            gen = np.random.default_rng(seed)
            if frames.shape[0] > max_frames:
                frames = frames[np.sort(gen.choice(frames.shape[0], max_frames, replace=False))]
            std = Standardizer.fit(frames, spec)
            z_valid = [std.apply(x) for x in valid_raw]
            train = {"z": [std.apply(x) for x in train_raw],
                     "y": [train_store.labels[u] for u in train_utts]}
            valid = {"z": z_valid, "raw": valid_raw, "tempo": ref_tempo,
                     "y": [valid_store.labels[u] for u in valid_utts],
                     "mean": torch.cat(z_valid).mean(dim=0)}
            base = {"features": fname, "rate_hz": spec.frame_rate, "hop": spec.hop}
            rows.append({**base, "n_units": None, **raw_scores(spec, train, valid),
                         "feature_s": feature_s})
            for k in units:
                t0 = time.perf_counter()
                tok = fit_on_frames(frames, spec, k, seed)
                fit_s = time.perf_counter() - t0
                rows.append({**base, "n_units": k, **score(tok, train, valid), "fit_s": fit_s})
                print(table_row(rows[-1]), file=sys.stderr, flush=True)
    return {"dump": str(dump), "cpu": cpu_model(), "torch_threads": torch.get_num_threads(),
            "train_clips": len(train_utts), "valid_clips": len(valid_utts),
            "frames_per_fit": max_frames, "seed": seed, "tempo_tolerance": TEMPO_TOLERANCE,
            "valid_clips_with_tempo": sum(t is not None for t in ref_tempo),
            "seconds": time.perf_counter() - started, "rows": rows}


HEADER = ("| features | rate | K | genre | env r | tempo | q err | use | rep | bits/s | fit s |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


def table_row(r: dict[str, Any]) -> str:
    def f(key: str, fmt: str) -> str:
        return format(r[key], fmt) if r.get(key) is not None else "-"

    return (f"| {r['features']} | {r['rate_hz']:g} Hz | {r['n_units'] or 'raw'} | "
            f"{f('genre', '.2f')} | {f('env_r', '.2f')} | {f('tempo', '.2f')} | "
            f"{f('q_err', '.3f')} | {f('use', '.2f')} | {f('rep', '.2f')} | "
            f"{f('bits_per_s', '.0f')} | {f('fit_s', '.1f')} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dump", type=Path, help="dump root with train/ and valid/")
    p.add_argument("--features", nargs="+", default=["mel", "onset,chroma,mel"],
                   help="feature sets, each as wavegen units fit --features takes it")
    p.add_argument("--rates", nargs="+", type=float, default=[25.0, 50.0, 100.0],
                   help="frame rates in Hz")
    p.add_argument("--units", nargs="+", type=int, default=[64, 256, 1024], help="K values")
    p.add_argument("--train-clips", type=int, default=100,
                   help="training clips (equal per genre); 0: all")
    p.add_argument("--valid-clips", type=int, default=0, help="valid clips; 0: all")
    p.add_argument("--max-frames", type=int, default=40_000, help="frames per k-means fit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = p.parse_args()
    result = run(a.dump, a.features, a.rates, a.units, a.train_clips or None,
                 a.valid_clips or None, a.max_frames, a.seed)
    print(f"{result['cpu']}, {result['torch_threads']} torch threads; {result['train_clips']} "
          f"training clips, {result['valid_clips']} valid clips "
          f"({result['valid_clips_with_tempo']} with a tempo); "
          f"{result['frames_per_fit']} frames per fit; {result['seconds']:.0f} s in all")
    print(HEADER)
    for row in result["rows"]:
        print(table_row(row))
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
