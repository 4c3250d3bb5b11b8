"""``wavegen eval-plans``: a planner judged on its plans alone, before any renderer plays them.

The same measurements are made of the planner's plans and of the real test clips' plans (their
unit tables, the tokenizer's own units of the real audio), so the comparison is plan to plan:

- **tempo** per plan: librosa's tempo estimate of the plan's onset envelope (the units'
  decoded onset bands, :func:`wavegen.units.features.onset_envelope`) at the frame rate;
  per genre the median against the real plans' median;
- **onset rate**: onsets per second picked on the same envelope;
- **genre of a plan**: a logistic regression over each plan's unit histogram (bag of units),
  fitted on the training plans, scored on the real test plans and on the generated ones
  (conditional accuracy at the plan level);
- **long-range consistency** (plans of at least 20 s): the tempo of the first and the last
  10 s, and the plan-level genre of the first and the last 5 s, of the generated plans and
  of the real ones (the ceiling of the measurement);
- **copies**: the longest run of frames that a generated plan shares with any training plan.

Everything is written to ``OUT/plans.json``; the plans themselves to ``OUT/plans/``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import torch

from wavegen.data.dump import DumpStore
from wavegen.errors import WavegenError
from wavegen.models.io import ModelInfo
from wavegen.models.two_level import TwoLevel, load_generator
from wavegen.outputs import check_output_dir, write_text
from wavegen.synth import condition_vector
from wavegen.two_level_synth import Planner, plan_units, planner_of
from wavegen.units.features import onset_envelope
from wavegen.units.plan import make_plan, write_plan
from wavegen.units.store import UnitStore
from wavegen.units.tokenizer import Tokenizer

log = logging.getLogger(__name__)


def plan_rhythm(units: np.ndarray, tok: Tokenizer) -> dict[str, float | None]:
    """Tempo (bpm; None without two onsets) and onset rate (per second) of a plan (F,)."""
    env = onset_envelope(tok.decode(units)).numpy().astype(np.float64)
    sr, hop = tok.sample_rate, tok.hop
    onsets = librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=hop)
    seconds = units.size * hop / sr
    tempo = None
    if len(onsets) >= 2:
        tempo = float(librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=hop)[0])
    return {"tempo": tempo, "onset_rate": len(onsets) / seconds}


def histogram(units: np.ndarray, n_units: int) -> np.ndarray:
    """A plan's unit histogram (K,), summing to 1."""
    counts = np.bincount(np.asarray(units, dtype=np.int64), minlength=n_units).astype(np.float64)
    return counts / max(1.0, counts.sum())


class RunIndex:
    """The runs of frames of a set of plans (the training plans), to find copies:
    ``longest(plan)`` is the longest run of frames a plan shares with any of them, found by
    binary search over run lengths with a set of the runs' 64-bit hashes per length."""

    def __init__(self, tables: list[np.ndarray]) -> None:
        self.tables = [np.ascontiguousarray(t, dtype=np.int16) for t in tables]
        self._sets: dict[int, set[int]] = {}

    def _runs(self, n: int) -> set[int]:
        if n not in self._sets:
            self._sets[n] = {hash(t[i:i + n].tobytes()) for t in self.tables
                             for i in range(t.size - n + 1)}
        return self._sets[n]

    def shares(self, plan: np.ndarray, n: int) -> bool:
        """Whether some run of ``n`` frames of ``plan`` is a run of a stored plan."""
        plan = np.ascontiguousarray(plan, dtype=np.int16)
        runs = self._runs(n)
        return any(hash(plan[i:i + n].tobytes()) in runs for i in range(plan.size - n + 1))

    def longest(self, plan: np.ndarray) -> int:
        lo, hi = 0, min(plan.size, max((t.size for t in self.tables), default=0))
        while lo < hi:  # the largest n that shares a run (sharing n implies sharing n - 1)
            mid = (lo + hi + 1) // 2
            if self.shares(plan, mid):
                lo = mid
            else:
                hi = mid - 1
        return lo


def _load_planner(model: str | os.PathLike[str] | None) -> tuple[Planner, ModelInfo, Tokenizer]:
    loaded = load_generator(model)
    where = "the packaged model" if model is None else f"model file {model}"
    if isinstance(loaded, TwoLevel):
        return (Planner(loaded.planner, loaded.n_units, loaded.frame_rate),
                loaded.planner_info, loaded.tokenizer)
    net, info = loaded
    planner = planner_of(net, info, where)
    assert info.tokenizer is not None
    return planner, info, Tokenizer.from_state(info.tokenizer, f"the tokenizer in {where}")


def _real_plans(dump: Path, tok: Tokenizer, frames: int | None
                ) -> tuple[list[np.ndarray], list[str]]:
    """The unit tables (first ``frames`` frames) and genres of a dump's utterances."""
    store, units = DumpStore(dump), UnitStore(dump / "units")
    if units.tokenizer != tok.identity():
        raise WavegenError(f"{dump}/units were extracted by another tokenizer than the "
                           "planner's: extract them again with its tokenizer")
    if store.label_kind != "utt2genre":
        raise WavegenError(f"{dump} is labelled with tags; eval-plans scores genres")
    plans, genres = [], []
    for utt in store.utts:
        ids = np.asarray(units.units(utt), dtype=np.int64)
        plans.append(ids if frames is None else ids[:frames])
        genres.append(store.vocab[int(np.argmax(store.label_vector(utt)))])
    return plans, genres


def evaluate_plans(model: str | os.PathLike[str] | None, ref: str | os.PathLike[str],
                   train: str | os.PathLike[str], out: str | os.PathLike[str],
                   seconds: float = 30.0, count: int = 3, seeds: tuple[int, ...] = (1,),
                   guidance: float | None = None, temperature: float | None = None,
                   top_p: float | None = None, engine: str = "auto") -> dict[str, Any]:
    """Draw ``count`` plans of ``seconds`` per genre and seed from a planner (or a two-level
    model's planner) and score them against the real plans of the dump ``ref`` (test set),
    the genre model and the copy index fitted on the dump ``train``. Returns (and writes to
    ``OUT/plans.json``) the measurements listed in the module doc."""
    from sklearn.linear_model import LogisticRegression

    planner, info, tok = _load_planner(model)
    if not 0 < seconds <= 600:
        raise WavegenError(f"--seconds must be in (0, 600], got {seconds}")
    frames = max(1, round(seconds * planner.frame_rate))
    ref, train = Path(ref), Path(train)
    real, real_genres = _real_plans(ref, tok, frames)
    train_plans, train_genres = _real_plans(train, tok, None)
    vocab = info.vocab
    K = tok.n_units
    clf = LogisticRegression(max_iter=2000, C=10.0)
    clf.fit(np.stack([histogram(p, K) for p in train_plans]), train_genres)
    index = RunIndex(train_plans)
    defaults = info.synth_defaults
    temperature = defaults.get("temperature", 1.0) if temperature is None else temperature
    top_p = defaults.get("top_p", 1.0) if top_p is None else top_p
    guidance = defaults.get("guidance", 1.0) if guidance is None else guidance
    out = check_output_dir(out)
    plan_dir = check_output_dir(out / "plans")
    generated: list[dict[str, Any]] = []
    for seed in seeds:
        cond = torch.stack([condition_vector(g, vocab, info.label_kind)
                            for g in vocab for _ in range(count)])
        units = plan_units(planner, cond, frames, temperature=temperature, top_p=top_p,
                           guidance=guidance, guided=guidance != 1.0, seed=seed,
                           engine=engine)
        for row, genre in zip(units.numpy(), [g for g in vocab for _ in range(count)],
                              strict=True):
            name = f"{genre}_seed{seed}_{len([x for x in generated if x['genre'] == genre])}"
            write_plan(plan_dir / f"{name}.plan.json", make_plan(row, tok.identity()))
            generated.append({"name": name, "genre": genre, "seed": seed, "units": row})
    result = _score(generated, real, real_genres, clf, index, tok, planner.frame_rate, vocab)
    result["settings"] = {"seconds": seconds, "count": count, "seeds": list(seeds),
                          "temperature": temperature, "top_p": top_p, "guidance": guidance,
                          "frames": frames, "model": str(model) if model else "packaged"}
    write_text(out / "plans.json", json.dumps(result, indent=1) + "\n")
    return result


def _median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.median(kept)) if kept else None


def _score(generated: list[dict[str, Any]], real: list[np.ndarray], real_genres: list[str],
           clf: Any, index: RunIndex, tok: Tokenizer, frame_rate: float,
           vocab: list[str]) -> dict[str, Any]:
    K = tok.n_units
    real_rhythm = [plan_rhythm(p, tok) for p in real]
    gen_rhythm = [plan_rhythm(g["units"], tok) for g in generated]
    real_pred = clf.predict(np.stack([histogram(p, K) for p in real]))
    gen_pred = clf.predict(np.stack([histogram(g["units"], K) for g in generated]))
    per_genre: dict[str, Any] = {}
    for genre in vocab:
        r = [i for i, g in enumerate(real_genres) if g == genre]
        g_idx = [i for i, g in enumerate(generated) if g["genre"] == genre]
        real_tempo = _median([real_rhythm[i]["tempo"] for i in r])
        gen_tempo = _median([gen_rhythm[i]["tempo"] for i in g_idx])
        real_rate = _median([real_rhythm[i]["onset_rate"] for i in r])
        gen_rate = _median([gen_rhythm[i]["onset_rate"] for i in g_idx])
        per_genre[genre] = {
            "real_tempo_median": real_tempo, "gen_tempo_median": gen_tempo,
            "tempo_ratio": None if not (real_tempo and gen_tempo) else gen_tempo / real_tempo,
            "real_onset_rate": real_rate, "gen_onset_rate": gen_rate,
            "onset_rate_ratio": None if not (real_rate and gen_rate) else gen_rate / real_rate,
            "real_accuracy": float(np.mean([real_pred[i] == genre for i in r])) if r else None,
            "gen_accuracy": float(np.mean([gen_pred[i] == genre for i in g_idx])),
        }
    ratios = [v["tempo_ratio"] for v in per_genre.values()]
    rates = [v["onset_rate_ratio"] for v in per_genre.values()]
    longest = [index.longest(g["units"]) for g in generated]
    long_range = _long_range(generated, clf, tok, frame_rate)
    real_long_range = _long_range([{"units": u, "genre": g} for u, g in zip(real, real_genres,
                                                                            strict=True)],
                                  clf, tok, frame_rate)
    return {
        "real_plan_accuracy": float(np.mean(real_pred == np.array(real_genres))),
        "gen_plan_accuracy": float(np.mean(gen_pred == np.array([g["genre"]
                                                                 for g in generated]))),
        "genres_tempo_within_10pct": sum(r is not None and abs(r - 1) <= 0.1 for r in ratios),
        "genres_onset_rate_in_0.67_1.5": sum(r is not None and 0.67 <= r <= 1.5 for r in rates),
        "longest_copied_run_frames": max(longest),
        "longest_copied_run_seconds": max(longest) / frame_rate,
        "per_genre": per_genre,
        "long_range": long_range,
        "real_long_range": real_long_range,
        "clips": [{"name": g["name"], "genre": g["genre"], "predicted": str(p),
                   "tempo": rh["tempo"], "onset_rate": rh["onset_rate"],
                   "longest_copied_run_frames": n}
                  for g, p, rh, n in zip(generated, gen_pred, gen_rhythm, longest,
                                         strict=True)],
    }


def _long_range(generated: list[dict[str, Any]], clf: Any, tok: Tokenizer,
                frame_rate: float) -> dict[str, Any] | None:
    """First vs last 10 s tempo and first vs last 5 s plan-level genre, for plans >= 20 s."""
    ten, five = round(10 * frame_rate), round(5 * frame_rate)
    long = [g for g in generated if g["units"].size >= 2 * ten]
    if not long:
        return None
    K = tok.n_units
    agree = []
    for g in long:
        a = plan_rhythm(g["units"][:ten], tok)["tempo"]
        b = plan_rhythm(g["units"][-ten:], tok)["tempo"]
        agree.append(a is not None and b is not None and abs(b / a - 1) <= 0.05)
    first = clf.predict(np.stack([histogram(g["units"][:five], K) for g in long]))
    last = clf.predict(np.stack([histogram(g["units"][-five:], K) for g in long]))
    want = np.array([g["genre"] for g in long])
    return {"n": len(long), "tempo_first_last_within_5pct": float(np.mean(agree)),
            "accuracy_first_5s": float(np.mean(first == want)),
            "accuracy_last_5s": float(np.mean(last == want))}
