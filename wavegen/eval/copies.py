"""Creativity, not copying: how close is each generated clip to the training audio?

Two measures per generated clip, both against every training clip:

* the nearest training clip by classifier embedding (the clip-level mean of the penultimate
  layer, as for the Frechet distance), with the cosine distance ``1 - cos`` between the two
  embeddings: 0 for the same direction, 1 for orthogonal embeddings;
* the highest normalized cross-correlation (NCC) of any ``WINDOW_SECONDS`` window of the
  generated clip (windows every ``HOP_SECONDS``) with the training audio, over all training
  clips and all lags::

      ncc[lag] = |sum_t w[t] x[lag + t]| / (||w|| * ||x[lag : lag + L]||)

  1 for a window that reappears (at any gain and either polarity) in the training audio,
  about ``sqrt(snr / (1 + snr))`` for one copied under noise (0.95 at 10 dB SNR). Each clip's
  mean is removed first. Windows and training stretches quieter than ``SILENCE_RMS``
  (-60 dBFS) score 0.

The NCC runs at ``NCC_RATE`` (4 kHz; clips at a higher rate are resampled): half the cost
of 8 kHz, and a copy under noise scores higher, since music has most of its energy below
2 kHz and noise does not. The numerators come for all windows at once by FFT (overlap-save
over blocks of each training clip), the running energies of the training clip by cumulative
sums.

Chance matches are common: a window dominated by a steady tone or a sampled note matches
any stretch of the training audio that holds the same note, whatever else the clip does. So
unless a threshold is given, the same max NCC is measured for excerpts of held-out real clips
(as long as the generated clips, up to ``BASELINE_CLIPS`` of them): the ``real_vs_train``
reference line, and the threshold is the larger of ``MIN_THRESHOLD`` and the highest of
them. A generated clip is flagged when its max NCC exceeds the threshold: by default, when
it is closer to the training audio than any held-out real clip. docs/evaluation.md has the
measurements behind this rule and the cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft

from wavegen.audio import resample

WINDOW_SECONDS = 1.0
HOP_SECONDS = 0.5
NCC_RATE = 4000  # the cross-correlation's sample rate (at most)
SILENCE_RMS = 1e-3  # windows and training stretches below -60 dBFS RMS score 0
MIN_THRESHOLD = 0.8  # flagged only above this, whatever the real excerpts reach
BASELINE_CLIPS = 20  # held-out real excerpts scored for the automatic threshold
ROUNDING = 1e-5  # float32 FFT rounding of an NCC: a clip must beat the threshold by more
MAX_BATCH = 1 << 23  # float32 values per FFT batch (windows x segments x block): 32 MB


@dataclass
class NccMatch:
    """Best NCC match of one generated clip: ``ncc`` in [0, 1], the training clip index
    ``train`` (-1 when nothing scored), the window's start in the generated clip and the lag
    in the training clip, in samples."""

    ncc: float = 0.0
    train: int = -1
    window_start: int = 0
    train_start: int = 0


def clip_windows(clip: np.ndarray, length: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a clip ``(T,)`` -> ``(starts (K,), windows (K, length))``; a clip shorter
    than one window gives one zero-padded window; the last window ends at or before T."""
    x = np.asarray(clip, dtype=np.float32)
    if x.size <= length:
        out = np.zeros((1, length), np.float32)
        out[0, : x.size] = x
        return np.zeros(1, dtype=np.int64), out
    starts = np.arange(0, x.size - length + 1, hop, dtype=np.int64)
    return starts, np.stack([x[s:s + length] for s in starts])


def _at(clip: np.ndarray, rate: int, ncc_rate: int) -> np.ndarray:
    """A clip at ``min(rate, ncc_rate)``, float32, its mean removed. (T,) -> (T',)"""
    x = np.asarray(clip, np.float32)
    if rate > ncc_rate:
        x = resample(x, rate, ncc_rate)
    return x - np.mean(x) if x.size else x


def _scan(x: np.ndarray, spec: np.ndarray, w_norm: np.ndarray, L: int, floor: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """Best |NCC| of each window over all lags of one training clip, by overlap-save.

    Args:
        x: the training clip (N,), N >= L; spec: conjugate rFFTs of the K windows at the
            block size (K, block // 2 + 1); w_norm: the windows' norms (K,).

    Returns:
        ``(best |NCC| (K,), its lag in x (K,))``.
    """
    K, block = len(spec), 2 * (spec.shape[1] - 1)
    step = block - L + 1  # valid lags per block
    k_chunk = max(1, min(K, MAX_BATCH // block))
    s_chunk = max(1, MAX_BATCH // (block * k_chunk))
    n_lags = x.size - L + 1
    csum = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    x_energy = csum[L:] - csum[:-L]  # (n_lags,) energy of x[lag : lag + L]
    n_seg = -(-n_lags // step)
    inv = np.zeros(n_seg * step, np.float32)  # 1 / ||x[lag : lag + L]||, 0 where silent
    inv[:n_lags] = np.where(x_energy >= floor, 1.0 / np.sqrt(np.maximum(x_energy, floor)), 0.0)
    padded = np.zeros((n_seg - 1) * step + block, np.float32)
    padded[: x.size] = x
    segments = np.lib.stride_tricks.sliding_window_view(padded, block)[::step]  # (n_seg, block)
    top, top_lag = np.zeros(K, np.float32), np.zeros(K, np.int64)
    for s0 in range(0, n_seg, s_chunk):
        s1 = min(n_seg, s0 + s_chunk)
        seg_spec = scipy.fft.rfft(segments[s0:s1], axis=1)  # (S, F)
        seg_inv = inv[s0 * step: s1 * step].reshape(s1 - s0, step)  # (S, step)
        for k0 in range(0, K, k_chunk):
            k1 = min(K, k0 + k_chunk)
            prod = spec[k0:k1, None, :] * seg_spec[None]  # (k, S, F)
            num = scipy.fft.irfft(prod, n=block, axis=2, overwrite_x=True)[..., :step]
            num *= seg_inv[None]  # (k, S, step): NCC * ||w||, signed
            flat = num.reshape(k1 - k0, -1)
            rows = np.arange(k1 - k0)
            hi, lo = flat.argmax(1), flat.argmin(1)
            at = np.where(-flat[rows, lo] > flat[rows, hi], lo, hi)
            val = np.abs(flat[rows, at]) / w_norm[k0:k1]
            better = val > top[k0:k1]
            top[k0:k1][better] = val[better]
            seg, off = np.divmod(at[better], step)
            top_lag[k0:k1][better] = (s0 + seg) * step + off
    return top, top_lag


def max_ncc(gen: list[np.ndarray], train: list[np.ndarray], rate: int,
            window_seconds: float = WINDOW_SECONDS, hop_seconds: float = HOP_SECONDS,
            ncc_rate: int = NCC_RATE) -> list[NccMatch]:
    """Highest NCC of any window of each generated clip against all training clips and lags.

    Args:
        gen: generated clips ``[(T_j,)]``; train: training clips ``[(N_i,)]``; both at ``rate``.
        ncc_rate: clips at a higher rate are resampled to this first.

    Returns:
        One :class:`NccMatch` per generated clip; its positions are in samples at ``rate``
        (to the NCC rate's resolution).
    """
    best = [NccMatch() for _ in gen]
    if not gen:
        return best
    work = min(rate, ncc_rate)
    L, hop = max(2, round(window_seconds * work)), max(1, round(hop_seconds * work))
    floor = L * SILENCE_RMS**2  # energy of a window at the silence level
    owner, starts, wins = [], [], []
    for j, clip in enumerate(gen):
        s, w = clip_windows(_at(clip, rate, work), L, hop)
        owner.append(np.full(len(s), j))
        starts.append(s)
        wins.append(w)
    owner_all, starts_all, w_all = np.concatenate(owner), np.concatenate(starts), np.vstack(wins)
    energy = np.einsum("kt,kt->k", w_all, w_all, dtype=np.float64)
    live = energy >= floor
    if not live.any():
        return best
    owner_all, starts_all, w_all = owner_all[live], starts_all[live], w_all[live]
    w_norm = np.sqrt(energy[live]).astype(np.float32)  # (K,)
    block = scipy.fft.next_fast_len(4 * L, real=True)
    block += block % 2  # even, so that the spectrum's length gives it back
    spec = np.conj(scipy.fft.rfft(w_all, n=block, axis=1))  # (K, F): correlation filters
    top = np.zeros(len(w_all), np.float32)
    top_train = np.full(len(w_all), -1)
    top_lag = np.zeros(len(w_all), np.int64)
    for i, clip in enumerate(train):
        x = _at(clip, rate, work)
        if x.size < L:
            continue
        val, lag = _scan(x, spec, w_norm, L, floor)
        better = val > top
        top[better], top_train[better], top_lag[better] = val[better], i, lag[better]
    scale = rate / work
    for k in np.argsort(top):  # ascending, so each clip ends with its best window
        j = owner_all[k]
        if top_train[k] >= 0 and top[k] >= best[j].ncc:
            best[j] = NccMatch(min(1.0, float(top[k])), int(top_train[k]),
                               round(starts_all[k] * scale), round(top_lag[k] * scale))
    return best


def nearest_by_embedding(gen_emb: np.ndarray, train_emb: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest training clip of each generated clip by cosine distance ``1 - cos``.

    Args:
        gen_emb: (N, c); train_emb: (M, c).

    Returns:
        ``(index into train (N,), distance (N,))``.
    """
    def unit(e: np.ndarray) -> np.ndarray:
        e = np.asarray(e, np.float64)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    dist = 1.0 - unit(gen_emb) @ unit(train_emb).T  # (N, M)
    idx = dist.argmin(1)
    return idx, dist[np.arange(len(idx)), idx]


def baseline_excerpts(clips: list[np.ndarray], labels: list[list[str]], n: int, length: int
                      ) -> tuple[list[np.ndarray], list[int]]:
    """Up to ``n`` held-out real clips, taken in turn from each label (first label of a clip),
    cut to their first ``length`` samples. -> ``(excerpts, indices into clips)``"""
    queues: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        queues.setdefault(lab[0], []).append(i)
    picked: list[int] = []
    while len(picked) < n and any(queues.values()):
        for queue in queues.values():
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    return [np.asarray(clips[i][:length], np.float32) for i in picked], picked


def find_copies(gen: list[np.ndarray], gen_files: list[str], gen_emb: np.ndarray,
                train: list[np.ndarray], train_utts: list[str], train_emb: np.ndarray,
                rate: int, real: list[np.ndarray] | None = None,
                real_utts: list[str] | None = None, threshold: float | None = None,
                train_files: list[str] | None = None) -> dict[str, Any]:
    """The ``copies`` entry of eval.json (see docs/evaluation.md).

    Args:
        gen: generated clips ``[(T_j,)]`` at ``rate``, their ``gen_files`` and embeddings
            ``gen_emb`` (N, c); train: training clips ``[(N_i,)]`` at ``rate``, their
            ``train_utts``, embeddings ``train_emb`` (M, c) and optionally audio files.
        real: held-out real excerpts ``[(T_r,)]`` (names ``real_utts``), scored the same way:
            the reference line ``real_vs_train``.
        threshold: a clip is flagged when its max NCC exceeds this; None: the larger of
            ``MIN_THRESHOLD`` and the highest max NCC of the real excerpts.
    """
    real = real or []
    near, dist = nearest_by_embedding(gen_emb, train_emb)
    matches = max_ncc(list(gen) + list(real), train, rate)
    gen_m, real_m = matches[: len(gen)], matches[len(gen):]
    real_ncc = np.array([m.ncc for m in real_m])
    rule = "given"
    if threshold is None:
        threshold = max(MIN_THRESHOLD, float(real_ncc.max()) if real_m else 0.0)
        rule = f"max({MIN_THRESHOLD}, highest max_ncc of the real excerpts)"
    clips = []
    for j, m in enumerate(gen_m):
        found = m.train >= 0
        clips.append({
            "file": str(gen_files[j]),
            "nearest_train_utt": train_utts[near[j]],
            "embedding_distance": float(dist[j]),
            "max_ncc": m.ncc,
            "ncc_train_utt": train_utts[m.train] if found else None,
            "ncc_train_file": (str(train_files[m.train]) if found and train_files else None),
            "ncc_offset_seconds": m.train_start / rate if found else None,
            "ncc_window_seconds": m.window_start / rate if found else None,
            "flagged": bool(m.ncc > threshold + ROUNDING),
        })
    baseline = {"n": len(real_m), "utts": list(real_utts or [])[: len(real_m)],
                "seconds": float(np.median([r.size for r in real]) / rate) if real else None,
                "max_ncc": [m.ncc for m in real_m],
                "median": float(np.median(real_ncc)) if real_m else None,
                "max": float(real_ncc.max()) if real_m else None}
    return {"threshold": threshold, "threshold_rule": rule, "window_seconds": WINDOW_SECONDS,
            "hop_seconds": HOP_SECONDS, "ncc_rate": min(rate, NCC_RATE), "n_train": len(train),
            "embedding_distance": "cosine distance 1 - cos between mean classifier embeddings",
            "real_vs_train": baseline, "clips": clips,
            "n_flagged": sum(c["flagged"] for c in clips)}
