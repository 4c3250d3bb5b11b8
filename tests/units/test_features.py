"""Frame features: frame count and alignment, what each group measures, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import wavegen.units.features as features
from wavegen.errors import WavegenError
from wavegen.units.features import (
    FeatureSpec,
    Standardizer,
    chroma_bank,
    frame_features,
    parse_features,
)

RATE = 8000


def noise(n: int, level: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * level).astype(np.float32)


@pytest.mark.parametrize("hop", [80, 160, 320, 150, 161])
@pytest.mark.parametrize("n", [1, 79, 80, 81, 159, 160, 161, 4000, 8001])
def test_exactly_ceil_n_over_hop_frames(n: int, hop: int) -> None:
    feats = frame_features(noise(n, 0.1), FeatureSpec(RATE, hop))
    assert feats.shape == (math.ceil(n / hop), 4 + 12 + 32)
    assert feats.dtype == torch.float32 and bool(torch.isfinite(feats).all())


@pytest.mark.parametrize("hop", [80, 160, 320])
def test_an_onset_in_frame_f_is_measured_in_frame_f(hop: int) -> None:
    """A note or a noise hit starting in the middle of frame f: the onset group peaks at f."""
    spec = FeatureSpec(RATE, hop, ("onset",))
    rng = np.random.default_rng(1)
    for trial in range(12):
        f = 5 + trial % 3
        start = f * hop + hop // 2 + int(rng.integers(-hop // 4, hop // 4))
        x = noise(12 * hop, 10 ** rng.uniform(-4, -2), seed=trial)
        t = np.arange(x.size - start)
        if trial % 2:
            x[start:] += 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t / RATE)
        else:
            x[start:] += 0.3 * np.exp(-t / 400) * rng.standard_normal(t.size)
        strength = frame_features(x, spec).sum(dim=1)  # (F,)
        assert int(strength[2:].argmax()) + 2 == f, (hop, trial)


def test_the_long_window_is_centred_on_its_frame() -> None:
    """A tone filling frames 20..29 exactly: its mel energy is symmetric about the burst."""
    hop = 160
    x = np.zeros(50 * hop, np.float32)
    t = np.arange(10 * hop)
    x[20 * hop:30 * hop] = 0.5 * np.sin(2 * np.pi * 440 * t / RATE)
    mel = frame_features(x, FeatureSpec(RATE, hop, ("mel",)))
    energy = (10 ** (mel / 10)).sum(dim=1)  # (F,)
    for k in range(1, 6):  # frames 20-k and 29+k see the tone equally
        assert float(energy[20 - k]) == pytest.approx(float(energy[29 + k]), rel=1e-3)
    assert float(energy[24]) > 10 * float(energy[17])
    assert float(energy[:10].max()) < 1e-6 * float(energy[24])


@pytest.mark.parametrize("hz,pitch_class", [(440.0, 9), (261.63, 0), (392.0, 7),
                                            (1046.5, 0), (311.13, 3), (164.81, 4)])
def test_chroma_names_the_pitch_class(hz: float, pitch_class: int) -> None:
    x = (0.5 * np.sin(2 * np.pi * hz * np.arange(RATE) / RATE)).astype(np.float32)
    chroma = frame_features(x, FeatureSpec(RATE, 160, ("chroma",)))[10:-10]  # (F, 12)
    assert bool((chroma.argmax(dim=1) == pitch_class).all())
    assert float(chroma.max(dim=1).values.min()) == pytest.approx(1.0)


def test_chroma_bank_covers_the_octaves_and_stays_silent_on_silence() -> None:
    bank = chroma_bank(RATE, 1024)
    assert bank.shape == (12, 513)
    sums = bank.sum(dim=0)
    freqs = np.arange(513) * RATE / 1024
    used = (freqs >= 131) & (freqs <= 3600)
    assert torch.allclose(sums[torch.from_numpy(used)], torch.ones(int(used.sum())))
    assert float(sums[torch.from_numpy(freqs < 120)].abs().max()) == 0.0
    silent = frame_features(np.zeros(RATE, np.float32), FeatureSpec(RATE, 160, ("chroma",)))
    assert float(silent.abs().max()) == 0.0


def test_blocks_join_seamlessly(monkeypatch: pytest.MonkeyPatch) -> None:
    x = noise(RATE * 3, 0.2, seed=3)
    x[5000:] += np.sin(np.arange(x.size - 5000) * 0.3).astype(np.float32)
    whole = frame_features(x, FeatureSpec(RATE, 160))
    monkeypatch.setattr(features, "BLOCK_FRAMES", 7)
    assert torch.allclose(frame_features(x, FeatureSpec(RATE, 160)), whole, atol=1e-4)


def test_local_edits_stay_local() -> None:
    """Samples changed inside frame 40 only touch the frames whose windows reach them."""
    spec = FeatureSpec(RATE, 160)
    x = noise(100 * 160, 0.1, seed=4)
    y = x.copy()
    y[40 * 160:41 * 160] += 0.5
    diff = (frame_features(y, spec) - frame_features(x, spec)).abs().amax(dim=1)
    reach = spec.long_fft // 2 // 160 + 2
    assert float(diff[:40 - reach].max()) == 0.0 and float(diff[41 + reach:].max()) == 0.0
    assert float(diff[40]) > 0.1


@pytest.mark.parametrize("audio,message", [
    (np.zeros(0, np.float32), "expected non-empty mono audio"),
    (np.zeros((2, 800), np.float32), "expected non-empty mono audio"),
    (np.r_[np.zeros(800), np.nan, np.zeros(800)].astype(np.float32), "not finite"),
    (np.r_[np.zeros(800), np.inf, np.zeros(800)].astype(np.float32), "not finite"),
    (np.full(800, np.finfo(np.float32).max, np.float32), "not finite"),
])
def test_bad_audio_is_one_clear_error(audio: np.ndarray, message: str) -> None:
    with pytest.raises(WavegenError, match=message):
        frame_features(audio, FeatureSpec(RATE, 160), what="clip x")


@pytest.mark.parametrize("kwargs,message", [
    ({"hop": 79}, r"give a hop in \[80, 320\]"),
    ({"hop": 321}, r"give a hop in \[80, 320\]"),
    ({"hop": 0}, "give a hop"),
    ({"hop": 160.0}, "give a hop"),
    ({"sample_rate": 999}, "sample rate must be"),
    ({"groups": ()}, "give one or more of"),
    ({"groups": ("mfcc",)}, "give one or more of"),
    ({"groups": ("mel", "mel")}, "each once"),
    ({"weights": (1.0, 2.0)}, "3 positive finite numbers"),
    ({"weights": (1.0, 0.0, 1.0)}, "positive finite"),
    ({"weights": (1.0, float("nan"), 1.0)}, "positive finite"),
    ({"weights": (1.0, float("inf"), 1.0)}, "positive finite"),
    ({"weights": (1.0, True, 1.0)}, "positive finite"),
])
def test_bad_spec(kwargs: dict, message: str) -> None:
    args = {"sample_rate": RATE, "hop": 160} | kwargs
    with pytest.raises(WavegenError, match=message):
        FeatureSpec(**args)


def test_parse_features_and_default_weights() -> None:
    assert parse_features("mel,onset:3") == (("onset", "mel"), (3.0, 2.0))
    assert parse_features(" onset , chroma,mel ") == (("onset", "chroma", "mel"), (1.0, 1.0, 2.0))
    assert FeatureSpec(RATE, 160).weights == (1.0, 1.0, 2.0)
    spec = FeatureSpec(RATE, 160, ("mel", "onset"), (3.0, 0.5))  # kept in GROUPS order
    assert (spec.groups, spec.weights) == (("onset", "mel"), (0.5, 3.0))
    for bad in ("", "mfcc", "mel,mel", "mel:0", "mel:-1", "mel:x", "mel:nan", "mel:inf", ",mel"):
        with pytest.raises(WavegenError, match="comma-separated list"):
            parse_features(bad)


def test_standardizer_balances_the_groups_and_inverts() -> None:
    spec = FeatureSpec(RATE, 160, weights=(2.0, 1.0, 1.0))
    frames = torch.randn(5000, spec.dim, dtype=torch.float64).float() * 7 + 3
    frames[:, 5] = 1.0  # a constant column
    std = Standardizer.fit(frames, spec)
    z = std.apply(frames)
    share = {g: float(z[:, s].var(dim=0, unbiased=False).sum()) for g, s in spec.slices.items()}
    assert share["onset"] == pytest.approx(4.0, rel=1e-3)
    assert share["mel"] == pytest.approx(1.0, rel=1e-3)
    assert share["chroma"] == pytest.approx(11 / 12, rel=1e-3)  # one column constant
    assert torch.allclose(std.invert(z), frames, atol=1e-4)
