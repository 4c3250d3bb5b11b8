"""Rhythm statistics of clips ("attacks"): onset rate, onset strength and tempo, per genre.

A WaveNet can get a genre's timbre and register right while smearing its attacks: drums
turn into noise bursts, plucks into swells. These statistics compare the rhythm of generated
clips with real clips of the same genre.

Every clip is first scaled to an RMS of ``LEVEL_RMS`` (-20 dBFS), so that loudness alone does
not change the statistics. The onset strength envelope is librosa's spectral flux: per frame
(``HOP_SECONDS`` apart) the mean over ``N_MELS`` mel bands of the positive increase in dB
since the previous frame. Onsets are its peaks that rise at least ``ONSET_DELTA_DB`` above
their local mean (librosa's peak picking on the raw, unnormalized envelope: normalizing it
to [0, 1] first, librosa's default, turns the ripple of a steady tone or of noise into
onsets).
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np

LEVEL_RMS = 0.1  # clips are scaled to this RMS (-20 dBFS) before analysis
SILENCE_RMS = 1e-4  # quieter clips (-80 dBFS) have no rhythm statistics
HOP_SECONDS = 0.016  # onset envelope frame hop
N_MELS = 64
ONSET_DELTA_DB = 1.0  # peak must exceed its local mean by this (mean dB rise over bands)
RATIO_RANGE = (0.5, 2.0)  # generated/real ratios inside it count as "like real"


def rhythm_stats(clip: np.ndarray, rate: int) -> dict[str, Any]:
    """Rhythm statistics of one mono clip ``(T,)`` at ``rate`` Hz.

    Returns:
        ``onset_rate`` (onsets per second), ``onset_strength`` (mean of the onset strength
        envelope, dB per frame, at the fixed RMS level), ``tempo`` (beats per minute from
        librosa's tempogram estimate; None with fewer than 2 onsets), ``n_onsets``,
        ``seconds``. A silent clip (RMS below -80 dBFS) gives 0 onsets, strength 0, tempo None.
    """
    x = np.asarray(clip, dtype=np.float32).reshape(-1)
    seconds = x.size / rate
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    silent = {"onset_rate": 0.0, "onset_strength": 0.0, "tempo": None, "n_onsets": 0,
              "seconds": seconds}
    hop = max(1, round(HOP_SECONDS * rate))
    if rms < SILENCE_RMS or x.size < 4 * hop:
        return silent
    x = x * (LEVEL_RMS / rms)
    env = librosa.onset.onset_strength(y=x, sr=rate, hop_length=hop, n_fft=4 * hop,
                                       n_mels=N_MELS, fmax=rate / 2)  # (frames,)
    onsets = librosa.onset.onset_detect(onset_envelope=env, sr=rate, hop_length=hop,
                                        normalize=False, delta=ONSET_DELTA_DB)
    tempo = None
    if len(onsets) >= 2:
        tempo = float(librosa.feature.tempo(onset_envelope=env, sr=rate, hop_length=hop)[0])
    return {"onset_rate": len(onsets) / seconds, "onset_strength": float(env.mean()),
            "tempo": tempo, "n_onsets": int(len(onsets)), "seconds": seconds}


def _summary(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over clips of one side (real or generated) of one genre."""
    tempos = [s["tempo"] for s in stats if s["tempo"] is not None]

    def mean(key: str) -> float | None:
        return float(np.mean([s[key] for s in stats])) if stats else None

    return {"n": len(stats), "onset_rate": mean("onset_rate"),
            "onset_strength": mean("onset_strength"),
            "tempo_median": float(np.median(tempos)) if tempos else None,
            "tempos": [round(t, 1) for t in tempos]}


def _ratio(gen: float | None, real: float | None) -> dict[str, Any]:
    if gen is None or real is None or real <= 0:
        return {"ratio": None, "within_0.5x_2x": None}
    r = gen / real
    return {"ratio": r, "within_0.5x_2x": bool(RATIO_RANGE[0] <= r <= RATIO_RANGE[1])}


def attacks_by_genre(real: list[np.ndarray], real_labels: list[list[str]],
                     gen: list[np.ndarray], gen_genres: list[str], rate: int
                     ) -> dict[str, Any]:
    """Per genre with generated clips: real vs generated rhythm statistics and their ratios.

    Args:
        real: real clips ``[(T_i,)]`` at ``rate``; ``real_labels`` their labels (a clip with
            several tags counts for each).
        gen: generated clips ``[(T_j,)]`` at ``rate``; ``gen_genres`` the requested genre of each.

    Returns:
        ``{"level_rms": ..., "onset_delta_db": ..., "per_genre": {genre: {"real": summary,
        "generated": summary, "onset_rate": {"ratio", "within_0.5x_2x"}, "onset_strength":
        {...}}}}`` where a summary is ``n``, mean ``onset_rate``, mean ``onset_strength``,
        ``tempo_median`` and the ``tempos`` (bpm) of the clips that have one. A ratio is
        generated / real (None when the real mean is 0 or there are no real clips).
    """
    real_stats = [rhythm_stats(c, rate) for c in real]
    gen_stats = [rhythm_stats(c, rate) for c in gen]
    per_genre = {}
    for genre in dict.fromkeys(gen_genres):
        r = _summary([s for s, labels in zip(real_stats, real_labels, strict=True)
                      if genre in labels])
        g = _summary([s for s, q in zip(gen_stats, gen_genres, strict=True) if q == genre])
        per_genre[genre] = {"real": r, "generated": g,
                            "onset_rate": _ratio(g["onset_rate"], r["onset_rate"]),
                            "onset_strength": _ratio(g["onset_strength"], r["onset_strength"])}
    return {"level_rms": LEVEL_RMS, "onset_delta_db": ONSET_DELTA_DB,
            "hop_seconds": HOP_SECONDS, "rate": rate, "per_genre": per_genre}
