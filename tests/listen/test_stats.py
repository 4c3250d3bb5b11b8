"""Statistics against numbers computed by hand."""

import math

import pytest

from wavegen.listen.stats import accuracy, mean_ci, mushra_post_screen, preference


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
