"""A procedural toy corpus in GTZAN's layout, for offline demos and tests.

``genres/<genre>/<genre>.000NN.wav`` for the 10 GTZAN genre names, mono 16-bit at 22050 Hz
(GTZAN's format). Each genre has its own identity that a small WaveNet can learn within its
receptive field and a log-mel classifier can hear: timbre (additive partials, plucks, FM,
distortion), register, scale, note rate, a percussion kit, and a steady drone in a key band of
its own. Clip ``k`` of a genre depends only on ``(seed, genre, k)``, so a larger corpus extends
a smaller one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavegen.audio import resample, write_wav
from wavegen.progress import progress

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop",
                "jazz", "metal", "pop", "reggae", "rock")
TOY_SAMPLE_RATE = 22050

KEYS_PER_GENRE = 4  # a clip's key root: one of GenreStyle.key .. key + 3
MELODY_LEVEL, DRONE_LEVEL = 0.45, 0.3  # mix levels; drums carry their own (GenreStyle)
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
        key: MIDI note of the lowest key root. A clip's key is one of the
            ``KEYS_PER_GENRE`` semitones from here, and its drone sounds that root and its
            octave, so each genre has a drone band of its own (see ``render_clip``).
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
    key: int = 60


STYLES: dict[str, GenreStyle] = {
    "blues": GenreStyle("partials", (1.0, 0.6, 0.45, 0.0, 0.25, 0.0, 0.12), 45, 62,
                        (0, 3, 5, 6, 7, 10), 2.5, hat=0.12, beats_per_s=1.6, key=55),
    "classical": GenreStyle("partials", (1.0, 0.08), 69, 88, MAJOR, 1.5, staccato=1.0,
                            vibrato=0.25, key=80),
    "country": GenreStyle("pluck", (1.0, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15), 55, 74,
                          (0, 2, 4, 7, 9), 4.0, snare=0.15, beats_per_s=2.0, key=70),
    "disco": GenreStyle("partials", (1.0, 0.0, 0.33, 0.0, 0.2, 0.0, 0.14, 0.0, 0.11), 43, 60,
                        MINOR, 6.0, staccato=0.6, kick=0.45, hat=0.2, beats_per_s=2.0, key=50),
    "hiphop": GenreStyle("partials", (1.0, 0.15), 31, 43, (0, 3, 5, 7, 10), 1.0,
                         kick=0.6, snare=0.4, beats_per_s=1.5, key=40),
    "jazz": GenreStyle("fm", (1.0,), 52, 72, (0, 2, 3, 5, 7, 9, 10, 11), 3.0, hat=0.1,
                       beats_per_s=2.3, key=65),
    "metal": GenreStyle("drive", (1.0, 0.5, 0.33, 0.25, 0.2), 38, 50, (0, 1, 3, 5, 7, 8, 10),
                        8.0, kick=0.4, snare=0.2, beats_per_s=4.0, key=45),
    "pop": GenreStyle("partials", (1.0, 0.5, 0.33, 0.25, 0.2, 0.17, 0.14, 0.12), 62, 79,
                      MAJOR, 4.0, snare=0.3, beats_per_s=1.9, key=85),
    "reggae": GenreStyle("partials", (1.0, 0.0, 0.11, 0.0, 0.04), 57, 72, MINOR, 2.0,
                         staccato=0.35, snare=0.25, beats_per_s=1.2, key=75),
    "rock": GenreStyle("drive", (1.0, 0.0, 0.33, 0.0, 0.2), 47, 62, (0, 3, 5, 7, 10), 5.0,
                       kick=0.35, snare=0.35, beats_per_s=2.2, key=60),
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


PARTS = ("melody", "drums", "drone")


def render_clip(
    genre: str, duration: float, seed: int, sr: int = TOY_SAMPLE_RATE,
    parts: tuple[str, ...] = PARTS, style: GenreStyle | None = None,
) -> np.ndarray:
    """Render one clip of ``genre``. -> float32 (round(duration * sr),) in [-1, 1].

    ``parts`` (a subset of ``PARTS``) and ``style`` (instead of ``STYLES[genre]``) are for
    analysis: every part is rendered from the same random draws whatever is kept, so a clip
    without its melody is the full clip minus the melody (before the peak normalization).
    """
    unknown = set(parts) - set(PARTS)
    if unknown or not parts:
        raise ValueError(f"parts must be a non-empty subset of {PARTS}, got {parts}")
    style = style or STYLES[genre]
    rng = np.random.default_rng(seed)
    n_total = int(round(duration * sr))
    melody = np.zeros(n_total)
    tempo = rng.uniform(0.92, 1.08)
    slot = int(sr / (style.notes_per_s * tempo))
    root = style.key + int(rng.integers(0, KEYS_PER_GENRE))
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
    # A drone on the key's root and its octave: the clip never drops to digital silence (a
    # state an autoregressive model can get stuck in), and the drone, a steady tone a small
    # model renders reliably, marks the genre throughout: the genres' drone bands (``key``)
    # are five semitones apart.
    t = np.arange(n_total) / sr
    phase = 2 * np.pi * _midi_hz(root) * t + rng.uniform(0, 2 * np.pi)
    drone = np.sin(phase) + 0.6 * np.sin(2 * phase)
    levels = {"melody": MELODY_LEVEL * melody, "drums": drums, "drone": DRONE_LEVEL * drone}
    mix: np.ndarray = sum((levels[p] for p in parts), np.zeros(n_total))
    mix *= rng.uniform(0.6, 0.8) / max(1e-6, float(np.max(np.abs(mix))))
    return mix.astype(np.float32)


def labelled_clips(
    seed: int, per_genre: int, seconds: float, rate: int, parts: tuple[str, ...] = PARTS,
    styles: dict[str, GenreStyle] | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """``per_genre`` fresh clips of every genre at ``rate`` Hz, for classifier checks.

    Clip k of genre g has seed ``seed * 1000 + g * 100 + k`` (independent of the corpus on
    disk); ``parts`` and ``styles`` (per genre) go to :func:`render_clip`.
    Returns clips [(round(seconds * rate),)] and their genre indices (N,).
    """
    clips, labels = [], []
    for g, genre in enumerate(GTZAN_GENRES):
        style = styles[genre] if styles else None
        for k in range(per_genre):
            x = render_clip(genre, seconds, seed=seed * 1000 + g * 100 + k, parts=parts,
                            style=style)
            clips.append(resample(x, TOY_SAMPLE_RATE, rate))
            labels.append(g)
    return clips, np.asarray(labels)


def make_toy_corpus(
    out: str | os.PathLike[str], clips_per_genre: int = 20, duration: float = 5.0,
    seed: int = 0, genres: tuple[str, ...] = GTZAN_GENRES,
) -> Path:
    """Write ``out/genres/<genre>/<genre>.000NN.wav``. Returns the ``genres`` folder."""
    root = Path(out) / "genres"
    bar = progress(total=len(genres) * clips_per_genre, desc="toy corpus", unit="clip")
    for genre in genres:
        (root / genre).mkdir(parents=True, exist_ok=True)
        g_index = GTZAN_GENRES.index(genre)  # not the position in ``genres``: see module doc
        for k in range(clips_per_genre):
            clip_seed = int(np.random.SeedSequence([seed, g_index, k]).generate_state(1)[0])
            write_wav(root / genre / f"{genre}.{k:05d}.wav",
                      render_clip(genre, duration, clip_seed), TOY_SAMPLE_RATE)
            bar.update(1)
    bar.close()
    return root
