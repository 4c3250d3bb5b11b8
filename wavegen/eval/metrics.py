"""Objective metrics on classifier outputs: confusion, inception score, Frechet distance.

The Frechet distance here is computed on the penultimate layer of the in-project classifier
(:mod:`wavegen.eval.classifier`), not on a downloaded embedding model: numbers are comparable
between runs that share a classifier file, not with published FAD values.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(requested: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``[requested, predicted]``. (N,), (N,) -> (C, C) int"""
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (requested, predicted), 1)
    return out


def inception_score(probs: np.ndarray) -> float:
    """``exp(E_x KL(p(y|x) || p(y)))`` for class probabilities (N, C); 1 <= IS <= C."""
    p = np.clip(probs / probs.sum(1, keepdims=True), 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def gaussian(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of embeddings (N, D); N >= 2."""
    emb = np.asarray(emb, dtype=np.float64)
    return emb.mean(0), np.cov(emb, rowvar=False)


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray,
                     cov2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between two Gaussians.

    ``Tr((S1 S2)^(1/2))`` is the sum of square roots of the eigenvalues of the symmetric
    ``S1^(1/2) S2 S1^(1/2)`` (same spectrum), which stays stable for singular covariances.
    """
    diff = mu1 - mu2
    root = _psd_sqrt(cov1)
    middle = root @ cov2 @ root
    trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)))
    value = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def frechet_between(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussian fits of two embedding sets (N_a, D), (N_b, D)."""
    return frechet_distance(*gaussian(a), *gaussian(b))


def frechet_extrapolated(gen: np.ndarray, real: np.ndarray, n_points: int = 5,
                         repeats: int = 4, seed: int = 0) -> dict[str, object]:
    """FD is biased upwards at small n: fit ``FD(n) = FD_inf + k / n`` over subsets of the
    generated set (sizes from n/2 to n, ``repeats`` random subsets each) and report the
    intercept ``FD_inf`` with the points it was fitted on."""
    rng = np.random.default_rng(seed)
    n = len(gen)
    sizes = sorted({int(round(x)) for x in np.linspace(max(3, n // 2), n, n_points)})
    points = []
    for size in sizes:
        reps = 1 if size == n else repeats
        vals = [frechet_between(gen[rng.choice(n, size, replace=False)], real)
                for _ in range(reps)]
        points.append((size, float(np.mean(vals))))
    if len(points) < 2:
        return {"fd_inf": points[-1][1], "points": points}
    x = np.array([1.0 / s for s, _ in points])
    y = np.array([v for _, v in points])
    slope, intercept = np.polyfit(x, y, 1)
    return {"fd_inf": float(intercept), "slope": float(slope), "points": points}
