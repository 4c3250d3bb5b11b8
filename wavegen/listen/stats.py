"""Statistics of listening tests: t confidence intervals, MUSHRA post-screening, binomial tests,
genre confusion.

All functions take plain sequences and return plain numbers, so they are easy to check by hand.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class MeanCI:
    """A sample mean with a two-sided t confidence interval (``nan`` bounds when n < 2)."""

    n: int
    mean: float
    low: float
    high: float
    std: float


def mean_ci(values: Sequence[float], level: float = 0.95) -> MeanCI:
    """Mean and its ``level`` t interval: ``mean +- t_{(1+level)/2, n-1} * s / sqrt(n)``."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return MeanCI(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return MeanCI(1, mean, math.nan, math.nan, math.nan)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n)
    return MeanCI(n, mean, mean - half, mean + half, std)


def listener_mean_ci(scores: Iterable[tuple[str, float]], level: float = 0.95) -> MeanCI:
    """Mean and ``level`` t interval over listeners: each listener's ratings are averaged
    first, then the interval is the t interval of those per-listener means (``n`` = listeners).

    Pooling every answer (75 ratings from 5 listeners as n = 75) treats one listener's ratings
    as independent people and makes the interval several times too narrow; listeners, not
    ratings, are the sample. Each listener counts once, however many trials they rated.
    """
    per: dict[str, list[float]] = {}
    for listener, score in scores:
        per.setdefault(listener, []).append(float(score))
    return mean_ci([sum(v) / len(v) for v in per.values()], level)


@dataclass(frozen=True)
class Screening:
    """Who MUSHRA post-screening keeps and drops, with each listener's failure rate."""

    kept: list[str]
    dropped: list[str]
    fail_rate: dict[str, float]


def mushra_post_screen(reference_scores: Iterable[tuple[str, float]], threshold: float = 90.0,
                       max_fraction: float = 0.15) -> Screening:
    """ITU-R BS.1534 post-screening on the hidden reference.

    Args:
        reference_scores: ``(listener, score of the hidden reference)``, one per rated trial.
        threshold: a hidden reference rated below this counts as a failure.
        max_fraction: listeners failing in more than this fraction of their trials are dropped.
    """
    totals: dict[str, list[int]] = {}
    for listener, score in reference_scores:
        t = totals.setdefault(listener, [0, 0])
        t[0] += score < threshold
        t[1] += 1
    rate = {lst: fails / n for lst, (fails, n) in totals.items()}
    kept = sorted(lst for lst, r in rate.items() if r <= max_fraction)
    dropped = sorted(lst for lst, r in rate.items() if r > max_fraction)
    return Screening(kept, dropped, rate)


@dataclass(frozen=True)
class Preference:
    """A/B preference for ``a`` over ``b`` with a two-sided exact binomial test (p0 = 0.5)."""

    a: str
    b: str
    n: int
    wins_a: int
    rate_a: float
    p_value: float


def preference(a: str, b: str, choices: Sequence[str]) -> Preference:
    """Preference of ``a`` over ``b`` from the chosen system names (each ``a`` or ``b``)."""
    n = len(choices)
    wins = sum(c == a for c in choices)
    if n == 0:
        return Preference(a, b, 0, 0, math.nan, math.nan)
    p = float(stats.binomtest(wins, n, 0.5, alternative="two-sided").pvalue)
    return Preference(a, b, n, wins, wins / n, p)


@dataclass(frozen=True)
class Accuracy:
    """Identification accuracy with a Clopper-Pearson 95% interval and the confusion matrix."""

    n: int
    correct: int
    accuracy: float
    low: float
    high: float
    labels: list[str]
    confusion: list[list[int]]  # rows: true genre, columns: chosen genre


def accuracy(pairs: Sequence[tuple[str, str]], labels: Sequence[str]) -> Accuracy:
    """Accuracy and confusion of ``(true, chosen)`` label pairs over ``labels``."""
    index = {g: i for i, g in enumerate(labels)}
    confusion = [[0] * len(labels) for _ in labels]
    for true, chosen in pairs:
        confusion[index[true]][index[chosen]] += 1
    n = len(pairs)
    correct = sum(t == c for t, c in pairs)
    if n == 0:
        return Accuracy(0, 0, math.nan, math.nan, math.nan, list(labels), confusion)
    ci = stats.binomtest(correct, n).proportion_ci(0.95, method="exact")
    return Accuracy(n, correct, correct / n, float(ci.low), float(ci.high), list(labels),
                    confusion)


def group(rows: Iterable[Mapping], *keys: str) -> dict[tuple, list[Mapping]]:
    """Rows grouped by the values of ``keys`` (insertion order)."""
    out: dict[tuple, list[Mapping]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out
