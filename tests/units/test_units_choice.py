"""The tokenizer-choice benchmark's proxies, and the onset envelope they read back."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from wavegen.errors import WavegenError
from wavegen.units.features import FeatureSpec, frame_features, onset_envelope

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import units_choice  # noqa: E402

RATE = 8000


def clicks(bpm: float, seconds: float = 8.0) -> np.ndarray:
    """Noise bursts at ``bpm`` over a quiet noise floor."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(int(seconds * RATE)) * 1e-3).astype(np.float32)
    period = round(60.0 / bpm * RATE)
    for start in range(period // 2, x.size - 400, period):
        x[start:start + 400] += 0.5 * np.exp(-np.arange(400) / 80) * rng.standard_normal(400)
    return x


@pytest.mark.parametrize("groups", [("onset", "chroma", "mel"), ("mel",)])
def test_the_onset_envelope_carries_the_tempo(groups: tuple[str, ...]) -> None:
    spec = FeatureSpec(RATE, 160, groups)
    for bpm in (90.0, 120.0, 150.0):
        feats = frame_features(clicks(bpm), spec)
        env = onset_envelope({g: feats[:, s] for g, s in spec.slices.items()})
        assert env.shape == (feats.shape[0],) and bool((env >= 0).all())
        tempo = units_choice.envelope_tempo(env, RATE, 160)
        assert units_choice.tempo_agrees(tempo, bpm), (groups, bpm, tempo)
    with pytest.raises(WavegenError, match="needs the onset or the mel"):
        onset_envelope({"chroma": torch.zeros(3, 12)})


def test_tempo_agreement_and_nearest_genre() -> None:
    assert units_choice.tempo_agrees(121.0, 120.0) and units_choice.tempo_agrees(61.0, 120.0)
    assert units_choice.tempo_agrees(238.0, 120.0)
    assert not units_choice.tempo_agrees(135.0, 120.0)
    assert not units_choice.tempo_agrees(None, 120.0) and not units_choice.tempo_agrees(120, None)
    train = [np.array([1.0, 0.0]), np.array([0.9, 0.1]), np.array([0.0, 1.0])]
    valid = [np.array([0.8, 0.2]), np.array([0.2, 0.8]), np.array([0.6, 0.4])]
    acc = units_choice.nearest_genre(train, ["a", "a", "b"], valid, ["a", "b", "b"])
    assert acc == pytest.approx(2 / 3)
    stats = units_choice.unit_stats([np.array([0, 0, 1, 1]), np.array([2, 3])], 4, 50.0)
    assert stats["rep"] == pytest.approx(2 / 4)
    entropy = 2 / 3 * np.log2(3) + 1 / 3 * np.log2(6)  # p = 1/3, 1/3, 1/6, 1/6
    assert stats["bits_per_s"] == pytest.approx(50.0 * entropy)
    assert stats["use"] == pytest.approx(2 ** entropy / 4)


def test_a_tiny_grid_runs(dumps: Path) -> None:
    result = units_choice.run(dumps, ["mel", "onset,chroma,mel"], [50.0], [64, 128], None, None,
                              10_000, 0)
    rows = result["rows"]
    assert [(r["features"], r["n_units"]) for r in rows] == [
        ("mel", None), ("mel", 64), ("mel", 128),
        ("onset,chroma,mel", None), ("onset,chroma,mel", 64), ("onset,chroma,mel", 128)]
    for r in rows:
        assert 0.0 <= r["genre"] <= 1.0 and 0.0 <= r["tempo"] <= 1.0 and r["rate_hz"] == 50.0
    for small, large in ((rows[1], rows[2]), (rows[4], rows[5])):
        assert 0.0 < large["q_err"] < small["q_err"] < 1.0  # more units, less error
        assert small["env_r"] > 0.3
    assert result["train_clips"] == 10 and result["valid_clips"] == 10
    assert "|" in units_choice.table_row(rows[1])
