"""Statistics against numbers computed by hand."""

import math

import pytest

from wavegen.listen.stats import (
    accuracy,
    listener_mean_ci,
    mean_ci,
    mushra_post_screen,
    preference,
)


def test_mean_ci_matches_hand_computation():
    ci = mean_ci([1, 2, 3, 4, 5])
    # s = sqrt(10 / 4) = 1.5811; t(0.975, 4) = 2.776445; half = t * s / sqrt(5) = 1.963243
    assert ci.n == 5 and ci.mean == 3.0
    assert ci.std == pytest.approx(math.sqrt(2.5))
    assert ci.low == pytest.approx(3 - 1.963243, abs=1e-6)
    assert ci.high == pytest.approx(3 + 1.963243, abs=1e-6)


def test_mean_ci_degenerate_samples():
    assert math.isnan(mean_ci([]).mean)
    one = mean_ci([42.0])
    assert one.mean == 42.0 and math.isnan(one.low) and math.isnan(one.high)


def test_post_screening_drops_listeners_failing_more_than_15_percent():
    scores = ([("keep", 100)] * 17 + [("keep", 80)] * 3      # 3/20 = 15%: kept
              + [("drop", 100)] * 4 + [("drop", 89.9)]       # 1/5 = 20%: dropped
              + [("ok", 90)] * 2)                            # exactly 90 is not a failure
    s = mushra_post_screen(scores)
    assert s.kept == ["keep", "ok"]
    assert s.dropped == ["drop"]
    assert s.fail_rate == {"keep": 0.15, "drop": 0.2, "ok": 0.0}


def test_preference_two_sided_binomial():
    pref = preference("x", "y", ["x"] * 8 + ["y"] * 2)
    # P(K >= 8) = (45 + 10 + 1) / 1024; two-sided doubles it.
    assert (pref.n, pref.wins_a, pref.rate_a) == (10, 8, 0.8)
    assert pref.p_value == pytest.approx(112 / 1024)
    assert preference("x", "y", ["x", "y"]).p_value == pytest.approx(1.0)


def test_accuracy_and_confusion():
    pairs = [("rock", "rock"), ("rock", "jazz"), ("jazz", "jazz"), ("jazz", "jazz")]
    acc = accuracy(pairs, ["jazz", "rock"])
    assert (acc.n, acc.correct, acc.accuracy) == (4, 3, 0.75)
    assert acc.confusion == [[2, 0], [1, 1]]
    # Clopper-Pearson for 3/4: lower = Beta(0.025; 3, 2) = 0.1941, upper = 0.9937
    assert acc.low == pytest.approx(0.19412, abs=1e-4)
    assert acc.high == pytest.approx(0.99369, abs=1e-4)


def test_listener_mean_ci_averages_each_listener_first():
    """Listener x rated 10, 20, 30 (mean 20), y rated 40 (mean 40), z 60, 80 (mean 70): the
    interval is the t interval of (20, 40, 70), n = 3, whatever the answer counts."""
    ci = listener_mean_ci([("x", 10), ("y", 40), ("x", 20), ("z", 60), ("x", 30), ("z", 80)])
    want = mean_ci([20, 40, 70])
    assert (ci.n, ci.mean) == (3, pytest.approx(130 / 3))
    assert (ci.low, ci.high) == (pytest.approx(want.low), pytest.approx(want.high))
    pooled = mean_ci([10, 40, 20, 60, 30, 80])
    assert pooled.high - pooled.low < ci.high - ci.low  # pooling overstates precision


def test_listener_mean_ci_of_one_listener_has_no_interval():
    ci = listener_mean_ci([("x", 10), ("x", 30)])
    assert ci.n == 1 and ci.mean == 20 and math.isnan(ci.low)
    assert math.isnan(listener_mean_ci([]).mean)
