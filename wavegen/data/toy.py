"""A procedural toy corpus in GTZAN's layout, for offline demos and tests.

``genres/<genre>/<genre>.000NN.wav`` for the 10 GTZAN genre names, mono 16-bit at 22050 Hz
(GTZAN's format). Each genre has its own identity that a small WaveNet can learn within its
receptive field and a log-mel classifier can hear: timbre (additive partials, plucks, FM,
distortion), register, scale, note rate and a percussion kit. Clip ``k`` of a genre depends
only on ``(seed, genre, k)``, so a larger corpus extends a smaller one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavegen.audio import write_wav

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop",
                "jazz", "metal", "pop", "reggae", "rock")
TOY_SAMPLE_RATE = 22050

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


@dataclass(frozen=True)
class GenreStyle:
    """What makes a genre recognizable.

    Attributes:
        timbre: one of ``partials`` (additive, ``partials`` amplitudes), ``pluck`` (partials
            decaying faster with order), ``fm`` (two-operator FM), ``drive`` (tanh-saturated).
        partials: amplitude of harmonic k+1.
        low, high: MIDI note range of the melody (the register).
        scale: semitone offsets within an octave.
        notes_per_s: note rate.
        staccato: fraction of each note slot that sounds.
        vibrato: depth in semitones (5.5 Hz).
        kick, snare, hat: percussion levels; ``beats_per_s`` their pulse.
    """

    timbre: str
    partials: tuple[float, ...]
    low: int
    high: int
    scale: tuple[int, ...]
    notes_per_s: float
    staccato: float = 0.9
    vibrato: float = 0.0
    kick: float = 0.0
    snare: float = 0.0
    hat: float = 0.0
    beats_per_s: float = 2.0


STYLES: dict[str, GenreStyle] = {
    "blues": GenreStyle("partials", (1.0, 0.6, 0.45, 0.0, 0.25, 0.0, 0.12), 45, 62,
                        (0, 3, 5, 6, 7, 10), 2.5, hat=0.12, beats_per_s=1.6),
    "classical": GenreStyle("partials", (1.0, 0.08), 69, 88, MAJOR, 1.5, staccato=1.0,
                            vibrato=0.25),
    "country": GenreStyle("pluck", (1.0, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15), 55, 74,
                          (0, 2, 4, 7, 9), 4.0, snare=0.15, beats_per_s=2.0),
    "disco": GenreStyle("partials", (1.0, 0.0, 0.33, 0.0, 0.2, 0.0, 0.14, 0.0, 0.11), 43, 60,
                        MINOR, 6.0, staccato=0.6, kick=0.45, hat=0.2, beats_per_s=2.0),
    "hiphop": GenreStyle("partials", (1.0, 0.15), 31, 43, (0, 3, 5, 7, 10), 1.0,
                         kick=0.6, snare=0.4, beats_per_s=1.5),
    "jazz": GenreStyle("fm", (1.0,), 52, 72, (0, 2, 3, 5, 7, 9, 10, 11), 3.0, hat=0.1,
                       beats_per_s=2.3),
    "metal": GenreStyle("drive", (1.0, 0.5, 0.33, 0.25, 0.2), 38, 50, (0, 1, 3, 5, 7, 8, 10),
                        8.0, kick=0.4, snare=0.2, beats_per_s=4.0),
    "pop": GenreStyle("partials", (1.0, 0.5, 0.33, 0.25, 0.2, 0.17, 0.14, 0.12), 62, 79,
                      MAJOR, 4.0, snare=0.3, beats_per_s=1.9),
    "reggae": GenreStyle("partials", (1.0, 0.0, 0.11, 0.0, 0.04), 57, 72, MINOR, 2.0,
                         staccato=0.35, snare=0.25, beats_per_s=1.2),
    "rock": GenreStyle("drive", (1.0, 0.0, 0.33, 0.0, 0.2), 47, 62, (0, 3, 5, 7, 10), 5.0,
                       kick=0.35, snare=0.35, beats_per_s=2.2),
}


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _note(style: GenreStyle, freq: float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One note of ``n`` samples at ``freq`` Hz, with its envelope. -> (n,)"""
    t = np.arange(n) / sr
    inst = freq * 2.0 ** (style.vibrato * np.sin(2 * np.pi * 5.5 * t) / 12.0)
    phase = 2 * np.pi * np.cumsum(inst) / sr + rng.uniform(0, 2 * np.pi)
    if style.timbre == "fm":
        index = 2.5 * np.exp(-t * 6.0)
        wave = np.sin(phase + index * np.sin(phase))
    else:
        wave = np.zeros(n)
        for k, amp in enumerate(style.partials, start=1):
            if amp == 0.0 or k * freq >= sr / 2:
                continue
            decay = np.exp(-t * 3.0 * k) if style.timbre == "pluck" else 1.0
            wave += amp * decay * np.sin(k * phase)
        if style.timbre == "drive":
            wave = np.tanh(3.0 * wave)
    attack = min(n, int(0.008 * sr))
    env = np.ones(n)
    env[:attack] = np.linspace(0.0, 1.0, attack)
    if style.timbre in ("pluck", "fm"):
        env *= np.exp(-t * 2.5)
    release = min(n, int(0.015 * sr))
    env[n - release:] *= np.linspace(1.0, 0.0, release)
    return wave * env / max(1.0, float(np.max(np.abs(wave))))


def _drum(kind: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A percussion hit. -> (n,)"""
    if kind == "kick":
        t = np.arange(int(0.25 * sr)) / sr
        freq = 45.0 + 80.0 * np.exp(-t * 30.0)
        return np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t * 14.0)
    if kind == "snare":
        t = np.arange(int(0.18 * sr)) / sr
        noise = rng.standard_normal(t.size)
        return (0.7 * noise + 0.5 * np.sin(2 * np.pi * 185.0 * t)) * np.exp(-t * 25.0)
    t = np.arange(int(0.05 * sr)) / sr
    noise = np.diff(rng.standard_normal(t.size + 1))  # high-passed: bright
    return 0.6 * noise * np.exp(-t * 70.0)


def render_clip(genre: str, duration: float, seed: int, sr: int = TOY_SAMPLE_RATE) -> np.ndarray:
    """Render one clip of ``genre``. -> float32 (round(duration * sr),) in [-1, 1]."""
    style = STYLES[genre]
    rng = np.random.default_rng(seed)
    n_total = int(round(duration * sr))
    melody = np.zeros(n_total)
    tempo = rng.uniform(0.92, 1.08)
    slot = int(sr / (style.notes_per_s * tempo))
    root = int(rng.integers(0, 12))
    pitches = [p for p in range(style.low, style.high + 1) if (p - root) % 12 in style.scale]
    idx = int(rng.integers(len(pitches)))
    for start in range(0, n_total, slot):
        idx = int(np.clip(idx + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(pitches) - 1))
        n = min(int(slot * style.staccato), n_total - start)
        if n > 16:
            melody[start:start + n] += _note(style, _midi_hz(pitches[idx]), n, sr, rng)
    drums = np.zeros(n_total)
    beat = int(sr / (style.beats_per_s * tempo))
    for b, start in enumerate(range(0, n_total, beat)):
        hits = []
        if style.kick and b % 2 == 0 or style.kick and style.beats_per_s >= 4:
            hits.append(("kick", style.kick))
        if style.snare and b % 2 == 1:
            hits.append(("snare", style.snare))
        if style.hat:
            hits.append(("hat", style.hat))
        for kind, level in hits:
            hit = level * _drum(kind, sr, rng)[: n_total - start]
            drums[start:start + hit.size] += hit
    # A drone on the key's root below the melody: the clip never
    # drops to digital silence (a state an autoregressive model can get stuck in), and the
    # drone's pitch marks the genre's register throughout.
    t = np.arange(n_total) / sr
    drone_low = max(36, style.low - 12)
    drone_hz = _midi_hz(drone_low + (root - drone_low) % 12)
    drone = np.sin(2 * np.pi * drone_hz * t + rng.uniform(0, 2 * np.pi))
    mix = 0.45 * melody + 0.12 * drone + drums
    mix *= rng.uniform(0.6, 0.8) / max(1e-6, float(np.max(np.abs(mix))))
    return mix.astype(np.float32)


def make_toy_corpus(
    out: str | os.PathLike[str], clips_per_genre: int = 20, duration: float = 5.0,
    seed: int = 0, genres: tuple[str, ...] = GTZAN_GENRES,
) -> Path:
    """Write ``out/genres/<genre>/<genre>.000NN.wav``. Returns the ``genres`` folder."""
    root = Path(out) / "genres"
    for genre in genres:
        (root / genre).mkdir(parents=True, exist_ok=True)
        g_index = GTZAN_GENRES.index(genre)  # not the position in ``genres``: see module doc
        for k in range(clips_per_genre):
            clip_seed = int(np.random.SeedSequence([seed, g_index, k]).generate_state(1)[0])
            write_wav(root / genre / f"{genre}.{k:05d}.wav",
                      render_clip(genre, duration, clip_seed), TOY_SAMPLE_RATE)
    return root
