"""Frame features for the unit tokenizer: rhythm, harmony and timbre at the plan's frame rate.

An utterance of N samples has ``F = ceil(N / hop)`` frames; frame f describes the samples
``f * hop .. (f + 1) * hop - 1`` (the layout of :mod:`wavegen.units.store`). The long analysis
window is centred on the middle of its frame, and the signal is zero-padded at both ends.

Three groups, in a fixed order:

* ``onset`` (rhythm, ``N_ONSET_BANDS`` values): spectral flux in a few bands. A short window
  (about 32 ms) trails an edge that sweeps through the frame in ``SUBFRAMES`` steps (or the
  largest count below that divides the hop); each step's log-mel spectrum (``N_ONSET_MELS``
  bands) is compared with the previous step's, the rises (in dB) are averaged within each
  band, summed over the frame's steps and compressed (``log1p``). The rise of a window's
  level happens mostly as a new sound enters at its leading edge, so a drum hit at a sample
  of frame f raises frame f's value, not its predecessor's (a window centred on the frame
  would see it half a window early).
* ``chroma`` (harmony, 12 values): the power of a long window (about 100 ms: enough frequency
  resolution for semitones) folded onto the 12 pitch classes (:func:`chroma_bank`),
  divided by the frame's largest class (silence stays 0).
* ``mel`` (timbre, ``N_MELS`` values): the log-mel spectrum (dB) of the long window.

:class:`Standardizer` scales every dimension to zero mean and unit variance over the frames a
tokenizer is fitted on, then each group by ``weight / sqrt(dims)``, so that each group
contributes ``weight ** 2`` to the expected squared distance between two frames, whatever its
number of dimensions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torchaudio.functional as AF

from wavegen.errors import WavegenError

GROUPS = ("onset", "chroma", "mel")
# Default weights: timbre counts twice, which keeps the units' genre information close to
# log-mel units' while they still follow the onsets (docs/units.md, "Choosing features, rate
# and K").
GROUP_WEIGHTS = {"onset": 1.0, "chroma": 1.0, "mel": 2.0}
N_ONSET_BANDS = 4
N_ONSET_MELS = 16  # short-window mel bands, N_ONSET_MELS / N_ONSET_BANDS per onset band
N_CHROMA = 12
N_MELS = 32
SUBFRAMES = 4  # short-window steps per frame for the onset flux (fewer if the hop needs it)
LONG_WINDOW_S = 0.1  # rounded up to a power of two samples
SHORT_WINDOW_S = 0.032
EDGE_LEAD = 0.125  # of the short window: see _Analyzer
CHROMA_FMIN = 65.4  # C2
CHROMA_FMAX = 4186.0  # C8
AMIN = 1e-8  # power floor (-80 dB re full scale)
FRAME_RATE_RANGE = (25.0, 100.0)  # frames per second a hop may give
BLOCK_FRAMES = 2048  # frames analysed at once (bounds memory for long inputs)


def _pow2(x: float) -> int:
    return 1 << max(0, math.ceil(math.log2(x)))


@dataclass(frozen=True)
class FeatureSpec:
    """What a tokenizer computes per frame.

    Args:
        sample_rate: audio rate in Hz.
        hop: samples per frame; ``sample_rate / hop`` must lie in ``FRAME_RATE_RANGE``.
        groups: a non-empty subset of ``GROUPS`` (kept in that order).
        weights: one positive weight per group (default: ``GROUP_WEIGHTS``).
    """

    sample_rate: int
    hop: int
    groups: tuple[str, ...] = GROUPS
    weights: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rate, int) or not 1000 <= self.sample_rate <= 192000:
            raise WavegenError(f"sample rate must be an integer in [1000, 192000] Hz, got "
                               f"{self.sample_rate!r}")
        lo, hi = FRAME_RATE_RANGE
        if not isinstance(self.hop, int) or self.hop < 1 or not (
                lo <= self.sample_rate / self.hop <= hi):
            rate = self.sample_rate / max(1, self.hop) if isinstance(self.hop, int) else 0
            raise WavegenError(f"unit hop {self.hop!r} gives {rate:g} frames/s at "
                               f"{self.sample_rate} Hz; give a hop in "
                               f"[{math.ceil(self.sample_rate / hi)}, "
                               f"{math.floor(self.sample_rate / lo)}] ({lo:g}-{hi:g} Hz)")
        unknown = [g for g in self.groups if g not in GROUPS]
        if not self.groups or unknown or len(set(self.groups)) != len(self.groups):
            raise WavegenError(f"unit features {','.join(self.groups) or '(none)'}: give one or "
                               f"more of {', '.join(GROUPS)}, each once")
        weights = self.weights or tuple(GROUP_WEIGHTS[g] for g in self.groups)
        if len(weights) != len(self.groups) or not all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w)
                and w > 0 for w in weights):
            raise WavegenError(f"unit feature weights must be {len(self.groups)} positive "
                               f"finite numbers, got {weights!r}")
        pairs = sorted(zip(self.groups, weights, strict=True), key=lambda p: GROUPS.index(p[0]))
        object.__setattr__(self, "groups", tuple(g for g, _ in pairs))
        object.__setattr__(self, "weights", tuple(float(w) for _, w in pairs))

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    @property
    def long_fft(self) -> int:
        return _pow2(LONG_WINDOW_S * self.sample_rate)

    @property
    def short_fft(self) -> int:
        return _pow2(SHORT_WINDOW_S * self.sample_rate)

    @property
    def dims(self) -> dict[str, int]:
        """Dimensions of each group, in order."""
        size = {"onset": N_ONSET_BANDS, "chroma": N_CHROMA, "mel": N_MELS}
        return {g: size[g] for g in self.groups}

    @property
    def slices(self) -> dict[str, slice]:
        """Columns of each group in a feature matrix ``(F, D)``."""
        out, start = {}, 0
        for g, d in self.dims.items():
            out[g] = slice(start, start + d)
            start += d
        return out

    @property
    def dim(self) -> int:
        return sum(self.dims.values())

    def to_dict(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate, "hop": self.hop, "groups": list(self.groups),
                "weights": list(self.weights)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(int(d["sample_rate"]), int(d["hop"]), tuple(d["groups"]),
                   tuple(float(w) for w in d["weights"]))


def parse_features(text: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """``"onset:3,chroma,mel"`` -> ``(("onset", "chroma", "mel"), (3.0, 1.0, 2.0))``: a group
    without a weight takes its ``GROUP_WEIGHTS`` entry.

    Raises:
        WavegenError: an unknown group, a repeated one or a bad weight.
    """
    groups, weights = [], []
    for part in text.split(","):
        name, _, weight = part.strip().partition(":")
        try:
            w = float(weight) if weight else GROUP_WEIGHTS.get(name, float("nan"))
        except ValueError:
            w = float("nan")
        if name not in GROUPS or name in groups or not (math.isfinite(w) and w > 0):
            raise WavegenError(f"unit features {text!r}: give a comma-separated list of "
                               f"{', '.join(GROUPS)}, each once, optionally with a positive "
                               "weight (onset:2,chroma,mel)")
        groups.append(name)
        weights.append(w)
    order = sorted(range(len(groups)), key=lambda i: GROUPS.index(groups[i]))
    return tuple(groups[i] for i in order), tuple(weights[i] for i in order)


def chroma_bank(sample_rate: int, n_fft: int) -> torch.Tensor:
    """Fold an ``n_fft`` power spectrum onto the 12 pitch classes (C = 0): ``(12, n_fft // 2 + 1)``.

    A bin's power is shared between the two pitch classes nearest its frequency, linearly in
    semitones. Only bins from ``CHROMA_FMIN`` (and no lower than where a bin is narrower than
    a semitone) up to ``CHROMA_FMAX`` (or 0.45 of the rate) take part.
    """
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    fmin = max(CHROMA_FMIN, (sample_rate / n_fft) / (2 ** (1 / 12) - 1))
    fmax = min(CHROMA_FMAX, 0.45 * sample_rate)
    used = (freqs >= fmin) & (freqs <= fmax)
    pitch = 12.0 * torch.log2(freqs.clamp_min(1.0) / 440.0) + 9.0  # semitones above C
    low = torch.floor(pitch)
    frac = pitch - low
    bank = torch.zeros(N_CHROMA, freqs.numel(), dtype=torch.float64)
    cols = torch.arange(freqs.numel())
    bank[low.long() % N_CHROMA, cols] += (1.0 - frac) * used
    bank[(low.long() + 1) % N_CHROMA, cols] += frac * used
    return bank.float()


class _Analyzer:
    """Windows and filter banks of one spec, built once and reused for every utterance."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        sr, n_long, n_short = spec.sample_rate, spec.long_fft, spec.short_fft
        self.long_window = torch.hann_window(n_long, periodic=True)
        self.short_window = torch.hann_window(n_short, periodic=True)
        self.long_mel = AF.melscale_fbanks(n_long // 2 + 1, 0.0, sr / 2, N_MELS, sr)
        self.short_mel = AF.melscale_fbanks(n_short // 2 + 1, 0.0, sr / 2, N_ONSET_MELS, sr)
        self.chroma = chroma_bank(sr, n_long)  # (12, n_long // 2 + 1)
        # Onset steps: S per frame, S the largest of SUBFRAMES, ..., 1 that divides the hop.
        # The window of step j = 0 .. S of frame f ends at f * hop + j * hop / S + lead (step
        # 0 at the frame's start): the edge sweeps the frame, led by EDGE_LEAD of the window,
        # the delay with which a tapered window's level follows a sound that enters it.
        self.steps = next(s for s in range(SUBFRAMES, 0, -1) if spec.hop % s == 0)
        self.onset_start = round(EDGE_LEAD * n_short) - n_short  # window start - frame start
        self.long_start = spec.hop // 2 - n_long // 2  # centred on the frame
        self.pad = max(n_long // 2, n_short) + spec.hop

    @staticmethod
    def _power(frames: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        """Power spectra ``(M, n // 2 + 1)`` of frames ``(M, n)``, scaled so that a full-scale
        sine peaks near 1."""
        spec = torch.fft.rfft(frames * window, dim=-1)  # (M, n // 2 + 1)
        power = spec.real.square() + spec.imag.square()  # (M, n // 2 + 1)
        return power * (4.0 / float(window.sum()) ** 2)

    def block(self, x: torch.Tensor, first: int, count: int) -> torch.Tensor:
        """Raw features ``(count, D)`` of frames ``first .. first + count - 1`` of the signal
        ``x`` padded by ``self.pad`` zeros at the start (and enough at the end)."""
        hop, groups, out = self.spec.hop, self.spec.groups, []
        origin = first * hop + self.pad  # the block's first sample in x
        if "onset" in groups:
            n, steps = self.short_window.numel(), self.steps
            step = hop // steps
            start = origin + self.onset_start
            frames = x[start:start + count * hop + n].unfold(0, n, step)[:count * steps + 1]
            power = self._power(frames, self.short_window)  # (count * S + 1, bins)
            db = 10.0 * torch.log10((power @ self.short_mel).clamp_min(AMIN))  # (., mels)
            rise = (db[1:] - db[:-1]).clamp_min(0.0)  # (count * S, mels)
            bands = rise.reshape(count, steps, N_ONSET_BANDS, -1).mean(dim=3)
            out.append(torch.log1p(bands.sum(dim=1)))  # (count, N_ONSET_BANDS)
        if "chroma" in groups or "mel" in groups:
            n = self.long_window.numel()
            start = origin + self.long_start
            frames = x[start:start + (count - 1) * hop + n].unfold(0, n, hop)  # (count, n)
            power = self._power(frames, self.long_window)  # (count, bins)
            if "chroma" in groups:
                chroma = power @ self.chroma.T  # (count, 12)
                out.append(chroma / chroma.amax(dim=1, keepdim=True).clamp_min(AMIN))
            if "mel" in groups:
                out.append(10.0 * torch.log10((power @ self.long_mel).clamp_min(AMIN)))
        return torch.cat(out, dim=1)


_ANALYZERS: dict[FeatureSpec, _Analyzer] = {}


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread inside the block. The tensors of one clip are small, and more
    threads only wait for each other (several times slower on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def frame_features(audio: np.ndarray | torch.Tensor, spec: FeatureSpec,
                   what: str = "audio") -> torch.Tensor:
    """Raw (unstandardized) features of one mono clip.

    Args:
        audio: samples ``(N,)`` in [-1, 1] at ``spec.sample_rate``.
        what: names the clip in error messages.

    Returns:
        ``(ceil(N / hop), spec.dim)`` float32, groups in ``spec.slices`` order.

    Raises:
        WavegenError: empty or not 1-D audio, or features that are not finite (NaN or inf
            samples in the audio).
    """
    if isinstance(audio, torch.Tensor):
        x = audio.detach().float().cpu()
    else:
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    if x.ndim != 1 or x.numel() == 0:
        raise WavegenError(f"{what}: expected non-empty mono audio (N,), got shape "
                           f"{tuple(x.shape)}; nothing to tokenize")
    analyzer = _ANALYZERS.get(spec)
    if analyzer is None:
        analyzer = _ANALYZERS.setdefault(spec, _Analyzer(spec))
    n_frames = -(-x.numel() // spec.hop)
    with single_thread(), torch.no_grad():
        padded = torch.nn.functional.pad(x, (analyzer.pad, analyzer.pad + spec.hop))
        feats = torch.cat([analyzer.block(padded, f, min(BLOCK_FRAMES, n_frames - f))
                           for f in range(0, n_frames, BLOCK_FRAMES)])  # (F, D)
        bad = int((~torch.isfinite(feats)).sum())
    if bad:
        raise WavegenError(f"{what}: {bad} feature values are not finite (NaN or inf); the audio "
                           "holds non-finite samples or is damaged")
    return feats


def onset_envelope(groups: dict[str, torch.Tensor]) -> torch.Tensor:
    """An onset strength envelope ``(F,)`` from raw features split by group (``{group: (F, D_g)}``,
    e.g. :meth:`Tokenizer.decode` of a unit sequence), in dB of rise per frame: the onset bands
    uncompressed (``expm1``) and summed, or without an onset group the mean rise of the log-mel
    spectrum from the previous frame. Librosa's tempo estimate finds the tempo of the audio on
    either (not on the compressed bands).

    Raises:
        WavegenError: neither an onset nor a mel group.
    """
    if "onset" in groups:
        return torch.expm1(groups["onset"]).clamp_min(0.0).sum(dim=1)
    if "mel" in groups:
        mel = groups["mel"]  # (F, N_MELS) dB
        rise = (mel[1:] - mel[:-1]).clamp_min(0.0).mean(dim=1)  # (F - 1,)
        return torch.cat([rise.new_zeros(1), rise])
    raise WavegenError("an onset envelope needs the onset or the mel feature group")


@dataclass
class Standardizer:
    """Per-dimension standardization and per-group weighting of raw features.

    ``apply(x) = (x - mean) / std * scale`` with ``scale = weight / sqrt(dims)`` of the column's
    group; ``invert`` undoes it.

    Attributes:
        mean, std, scale: ``(D,)`` float32.
    """

    mean: torch.Tensor
    std: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def fit(cls, frames: torch.Tensor, spec: FeatureSpec) -> Standardizer:
        """Fit on raw frames ``(M, D)``; a constant column gets ``std`` 1."""
        frames = frames.double()
        std = frames.std(dim=0, unbiased=False)
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        scale = torch.cat([torch.full((d,), w / math.sqrt(d), dtype=torch.float64)
                           for d, w in zip(spec.dims.values(), spec.weights, strict=True)])
        return cls(frames.mean(dim=0).float(), std.float(), scale.float())

    def apply(self, frames: torch.Tensor) -> torch.Tensor:
        return (frames - self.mean) / self.std * self.scale  # (F, D)

    def invert(self, z: torch.Tensor) -> torch.Tensor:
        return z / self.scale * self.std + self.mean  # (F, D)
