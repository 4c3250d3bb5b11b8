"""Rhythm statistics: onset rate, onset strength and tempo of synthetic click trains and tones."""

import numpy as np
import pytest

from wavegen.eval.attacks import attacks_by_genre, rhythm_stats

RATE = 8000


def clicks(per_second: float, seconds: float = 4.0, first: float = 0.1) -> np.ndarray:
    """Decaying 10 ms noise bursts every 1 / per_second s from ``first`` s. -> (T,)"""
    x = np.zeros(int(seconds * RATE), np.float32)
    rng = np.random.default_rng(0)
    n = int(0.01 * RATE)
    for t in np.arange(first, seconds - 0.02, 1.0 / per_second):
        i = int(t * RATE)
        x[i:i + n] += 0.5 * np.linspace(1, 0, n) * rng.standard_normal(n)
    return x


def tone(seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("per_second", [2.0, 4.0, 8.0])
def test_click_train_onset_rate(per_second):
    stats = rhythm_stats(clicks(per_second), RATE)
    expected = len(np.arange(0.1, 4.0 - 0.02, 1.0 / per_second)) / 4.0
    assert stats["onset_rate"] == pytest.approx(expected, abs=0.3)
    assert stats["seconds"] == 4.0 and stats["onset_strength"] > 1.0


def test_steady_tone_has_no_onsets_and_no_tempo():
    stats = rhythm_stats(tone(), RATE)
    assert stats["onset_rate"] <= 0.25 and stats["tempo"] is None
    assert stats["onset_strength"] < 0.1 * rhythm_stats(clicks(2.0), RATE)["onset_strength"]


def test_steady_noise_has_few_onsets():
    # Peak picking on the envelope normalized to [0, 1] would find about 8 per second here.
    noise = 0.1 * np.random.default_rng(1).standard_normal(4 * RATE).astype(np.float32)
    assert rhythm_stats(noise, RATE)["onset_rate"] <= 0.5


def test_tempo_of_120_bpm_click_train():
    stats = rhythm_stats(clicks(2.0, seconds=8.0), RATE)
    assert stats["tempo"] == pytest.approx(120.0, rel=0.05)


def test_loudness_alone_does_not_change_the_statistics():
    x = clicks(4.0) + 0.3 * tone()
    loud, quiet = rhythm_stats(x, RATE), rhythm_stats(0.02 * x, RATE)
    assert quiet["n_onsets"] == loud["n_onsets"]
    assert quiet["onset_strength"] == pytest.approx(loud["onset_strength"], rel=1e-3)


def test_silent_and_tiny_clips_do_not_crash():
    for x in (np.zeros(4 * RATE), np.zeros(10), np.zeros(0)):
        stats = rhythm_stats(x, RATE)
        assert stats["onset_rate"] == 0.0 and stats["tempo"] is None


def test_attacks_by_genre_ratios():
    real = [clicks(2.0), clicks(2.0, first=0.2), clicks(4.0)]
    labels = [["rock"], ["rock", "jazz"], ["jazz"]]
    gen = [clicks(8.0), clicks(2.0, first=0.2), tone()]
    out = attacks_by_genre(real, labels, gen, ["rock", "jazz", "blues"], RATE)
    rock, jazz, blues = (out["per_genre"][g] for g in ("rock", "jazz", "blues"))
    assert rock["real"]["n"] == 2 and jazz["real"]["n"] == 2 and blues["real"]["n"] == 0
    assert rock["onset_rate"]["ratio"] == pytest.approx(4.0, rel=0.15)
    assert rock["onset_rate"]["within_0.5x_2x"] is False
    assert rock["real"]["tempo_median"] == pytest.approx(120.0, rel=0.05)
    assert len(rock["real"]["tempos"]) == 2
    # jazz: generated = one of its two real clips (2 and 4 onsets/s): ratio about 2/3.
    assert jazz["onset_rate"]["within_0.5x_2x"] is True
    assert 0.5 < jazz["onset_rate"]["ratio"] < 0.8
    assert blues["real"]["onset_rate"] is None and blues["onset_rate"]["ratio"] is None
    assert blues["generated"]["n"] == 1 and blues["generated"]["tempos"] == []
