"""Metrics against closed forms and hand computations."""

import numpy as np
import pytest

from wavegen.eval.metrics import (
    confusion_matrix,
    frechet_between,
    frechet_distance,
    frechet_extrapolated,
    inception_score,
)


def test_frechet_distance_closed_forms():
    mu, cov = np.zeros(3), np.diag([1.0, 2.0, 3.0])
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)
    # 1-D: (m1 - m2)^2 + s1 + s2 - 2 sqrt(s1 s2) = 1 + 1 + 4 - 4 = 2
    assert frechet_distance(np.zeros(1), np.eye(1), np.ones(1), 4 * np.eye(1)) == pytest.approx(2)
    # Commuting diagonal covariances: sum of (sqrt(a) - sqrt(b))^2 plus the mean term.
    a, b = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    expected = 2.0 ** 2 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert frechet_distance(np.array([2.0, 0]), a, np.zeros(2), b) == pytest.approx(expected)


def test_frechet_between_samples_grows_with_shift():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((400, 4)), rng.standard_normal((400, 4))
    near = frechet_between(x, y)
    far = frechet_between(x, y + 3.0)
    assert near < 0.3 and far == pytest.approx(36.0, rel=0.1)


def test_extrapolation_removes_the_small_sample_bias():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((2000, 3))
    gen = rng.standard_normal((60, 3)) + np.array([1.0, 0, 0])  # true FD = 1
    fit = frechet_extrapolated(gen, real, seed=0)
    biased = frechet_between(gen, real)
    assert abs(fit["fd_inf"] - 1.0) < abs(biased - 1.0) + 0.05
    assert [n for n, _ in fit["points"]][-1] == 60


def test_inception_score_bounds():
    assert inception_score(np.full((8, 4), 0.25)) == pytest.approx(1.0)
    assert inception_score(np.eye(4)) == pytest.approx(4.0, rel=1e-6)
    assert 1.0 < inception_score(np.array([[0.9, 0.1], [0.2, 0.8]])) < 2.0


def test_confusion_matrix_counts():
    m = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
