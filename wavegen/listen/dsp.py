"""Signal processing for stimuli: rate choice, trimming, loudness matching, low-pass anchors.

Waveforms are mono float32 arrays ``(T,)`` in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import signal

from wavegen.audio import integrated_loudness
from wavegen.errors import WavegenError

# Rates for which webMUSHRA can create its built-in anchors; wavegen uses the same set.
ANCHOR_RATES = (16000, 22050, 32000, 44100, 48000)
FADE_SECONDS = 0.02
PEAK_LIMIT = 0.99
MIN_SECONDS = 0.5  # BS.1770 gating needs at least one 400 ms block


def choose_rate(native_rates: Sequence[int], requested: int | None = None) -> int:
    """The stimulus rate: ``requested`` if given, else the lowest anchor rate >= every input.

    No input loses bandwidth; the default never exceeds what the inputs carry by more than the
    step to the next supported rate.

    Raises:
        WavegenError: ``requested`` is not one of :data:`ANCHOR_RATES`.
    """
    if requested is not None:
        if requested not in ANCHOR_RATES:
            raise WavegenError(f"sample rate {requested} Hz is not supported; use one of "
                               f"{', '.join(map(str, ANCHOR_RATES))}")
        return requested
    top = max(native_rates)
    return next((r for r in ANCHOR_RATES if r >= top), ANCHOR_RATES[-1])


def trim(samples: np.ndarray, n: int, sample_rate: int) -> np.ndarray:
    """The first ``n`` samples with short raised-cosine fades at both ends (no clicks)."""
    if len(samples) < n:
        raise ValueError(f"clip has {len(samples)} samples, fewer than {n}")
    out = samples[:n].astype(np.float32, copy=True)
    fade = min(int(FADE_SECONDS * sample_rate), n // 4)
    if fade > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))).astype(np.float32)
        out[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
    return out


def loudness_gains(clips: Sequence[np.ndarray], sample_rate: int, target_lufs: float
                   ) -> tuple[list[float], float]:
    """Linear gains that bring every clip to one integrated loudness (ITU-R BS.1770).

    The common target is lowered as far as needed so that no clip peaks above
    :data:`PEAK_LIMIT`, which keeps the clips equally loud without clipping or limiting.
    Silent clips keep gain 1.

    Returns:
        ``(gains, target)``: one gain per clip and the loudness actually reached, in LUFS.
    """
    loudness = []
    for clip in clips:
        if len(clip) < MIN_SECONDS * sample_rate:
            raise WavegenError(f"clips must be at least {MIN_SECONDS} s long to measure "
                               f"loudness; synthesize longer clips")
        loudness.append(integrated_loudness(clip, sample_rate))
    headroom = 0.0
    for clip, lufs in zip(clips, loudness, strict=True):
        if np.isfinite(lufs):
            peak = float(np.max(np.abs(clip))) * 10 ** ((target_lufs - lufs) / 20)
            if peak > PEAK_LIMIT:
                headroom = max(headroom, 20 * np.log10(peak / PEAK_LIMIT))
    target = target_lufs - headroom
    gains = [10 ** ((target - lufs) / 20) if np.isfinite(lufs) else 1.0 for lufs in loudness]
    return gains, target


def lowpass(samples: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """A steep zero-phase low-pass (elliptic, order 10, run forward and backward).

    This is the MUSHRA anchor filter: 80 dB of stopband attenuation per pass, a transition band
    a few percent of the cutoff wide, no phase distortion.
    """
    if not 0 < cutoff_hz < sample_rate / 2:
        raise WavegenError(f"anchor cutoff {cutoff_hz} Hz needs a rate above {2 * cutoff_hz} Hz")
    sos = signal.ellip(10, 0.1, 80, cutoff_hz, btype="low", fs=sample_rate, output="sos")
    return signal.sosfiltfilt(sos, samples.astype(np.float64)).astype(np.float32)
