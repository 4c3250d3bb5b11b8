"""Genre arrangements as General MIDI: drums, bass, comping and lead for the 10 GTZAN genres.

An arrangement is a list of :class:`Note` events on four parts (``drums`` on the GM percussion
channel, ``bass``, ``comp`` for chords, ``lead`` for the melody) that :mod:`wavegen.data.render`
turns into a MIDI file and renders with a SoundFont. Everything a genre is recognized by lives in
its :class:`GenreSpec`: tempo range, feel (swing of eighths or sixteenths), a drum groove on the
GM kit with fills, a bass style, chord progressions, comping and lead styles and their GM
programs. A clip draws its key, tempo, progression, instruments and sections from a seeded
generator, and humanizes timing and velocity.

Times are in beats (quarter notes) until :func:`arrange` converts them to seconds; bars are 4
beats; a grid step is a sixteenth (4 per beat).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PARTS = ("drums", "bass", "comp", "lead")

# GM percussion keys
KICK, KICK2, SIDE, SNARE, CLAP, SNARE2 = 36, 35, 37, 38, 39, 40
HAT, HAT_FOOT, OPEN_HAT, CRASH, RIDE, CHINA = 42, 44, 46, 49, 51, 52
TOMS = (41, 43, 45, 47, 48, 50)
TIMPANI = 47  # GM program (melodic), not a drum key

CHORDS = {  # semitones above the chord root
    "maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10),
    "maj7": (0, 4, 7, 11), "5": (0, 7, 12), "dim": (0, 3, 6), "9": (0, 4, 7, 10, 14),
}
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
BLUES = (0, 3, 5, 6, 7, 10)
PENTA_MAJ = (0, 2, 4, 7, 9)
PENTA_MIN = (0, 3, 5, 7, 10)
PHRYGIAN = (0, 1, 3, 5, 7, 8, 10)
DORIAN = (0, 2, 3, 5, 7, 9, 10)


@dataclass(frozen=True)
class Note:
    """One event. ``start``/``duration`` in beats before :func:`arrange`, seconds after."""

    part: str
    pitch: int
    start: float
    duration: float
    velocity: int


@dataclass(frozen=True)
class GenreSpec:
    """What a genre's arrangement is made of.

    Attributes:
        tempo: (low, high) beats per minute, drawn per clip.
        swing: where an off-beat lands inside its pair, 0.5 straight, 2/3 a 2:1 swing.
        swing_unit: the swung note value in beats (0.5 eighths, 0.25 sixteenths).
        groove: drum pattern name (see ``_drum_bar``); ``None`` for no kit.
        bass: bass style name (see ``_bass_bar``) and ``bass_programs`` its GM programs.
        progressions: chord progressions, one (root offset, chord quality) per bar.
        scale: the lead's scale, relative to the key.
        comp: comping style (see ``_comp_bar``) and ``comp_programs`` its GM programs.
        lead_programs: the melody's GM programs; ``lead_density`` notes per beat on average.
        lead_register: (low, high) MIDI range of the melody.
        velocity: (mean, spread) of velocities: the genre's dynamics.
        humanize: timing jitter (standard deviation, in beats).
    """

    tempo: tuple[int, int]
    swing: float
    groove: str | None
    bass: str
    bass_programs: tuple[int, ...]
    progressions: tuple[tuple[tuple[int, str], ...], ...]
    scale: tuple[int, ...]
    comp: str
    comp_programs: tuple[int, ...]
    lead_programs: tuple[int, ...]
    lead_density: float
    lead_register: tuple[int, int]
    keys: tuple[int, ...] = tuple(range(12))
    swing_unit: float = 0.5
    velocity: tuple[int, int] = (90, 12)
    humanize: float = 0.01
    extra_programs: tuple[int, ...] = field(default=())


# Chord roots as scale-degree names (semitones above the key).
I, IV, V, VI, II, III, bVII, bVI, bII, bIII = 0, 5, 7, 9, 2, 4, 10, 8, 1, 3  # noqa: E741
TWELVE_BAR = ((I, "7"),) * 4 + ((IV, "7"),) * 2 + ((I, "7"),) * 2 + (
    (V, "7"), (IV, "7"), (I, "7"), (V, "7"))
SPECS: dict[str, GenreSpec] = {
    "blues": GenreSpec(
        (70, 110), 2 / 3, "shuffle", "boogie", (33,),
        (TWELVE_BAR,),
        BLUES, "shuffle_stabs", (0, 16, 27), (22, 29, 27), 1.2, (60, 79), velocity=(85, 15)),
    "classical": GenreSpec(
        (64, 120), 0.5, None, "cello", (42, 43),
        (((I, "maj"), (IV, "maj"), (V, "maj"), (I, "maj")),
         ((I, "maj"), (VI, "min"), (II, "min"), (V, "7")),
         ((I, "min"), (IV, "min"), (V, "maj"), (I, "min"))),
        MAJOR, "pad", (48, 49, 6), (40, 73, 60, 0), 1.5, (67, 88), velocity=(70, 22),
        humanize=0.025),
    "country": GenreSpec(
        (96, 136), 0.5, "train", "root_fifth", (32, 33),
        (((I, "maj"), (I, "maj"), (IV, "maj"), (IV, "maj"), (V, "maj"), (V, "maj"),
          (I, "maj"), (I, "maj")),
         ((I, "maj"), (IV, "maj"), (I, "maj"), (V, "maj"))),
        PENTA_MAJ, "strum", (25, 0), (40, 110, 105), 2.0, (64, 84)),
    "disco": GenreSpec(
        (112, 128), 0.5, "four_floor", "octaves", (33, 38),
        (((I, "m7"), (IV, "m7")), ((I, "m7"), (bVII, "7"), (bVI, "maj7"), (bVII, "7"))),
        DORIAN, "stabs", (48, 50, 4, 7), (61, 48, 81), 1.0, (67, 86), velocity=(100, 6)),
    "hiphop": GenreSpec(
        (82, 98), 0.6, "boom_bap", "sparse", (38, 39),
        (((I, "m7"), (bVI, "maj7")), ((I, "m7"), (IV, "m7"))),
        PENTA_MIN, "loop", (4, 0, 48), (4, 11, 80), 0.5, (60, 79), swing_unit=0.25,
        velocity=(95, 10)),
    "jazz": GenreSpec(
        (110, 200), 2 / 3, "swing_ride", "walking", (32,),
        (((II, "m7"), (V, "7"), (I, "maj7"), (I, "maj7")),
         ((I, "maj7"), (VI, "m7"), (II, "m7"), (V, "7")),
         ((III, "m7"), (VI, "7"), (II, "m7"), (V, "7"))),
        MAJOR, "comp_swing", (0, 26), (65, 66, 56, 11), 1.6, (60, 82), velocity=(75, 18),
        humanize=0.015),
    "metal": GenreSpec(
        (110, 180), 0.5, "double_kick", "riff", (34, 33),
        (((I, "5"), (bVI, "5"), (bVII, "5"), (I, "5")), ((I, "5"), (bII, "5"), (I, "5"),
                                                          (bIII, "5"))),
        PHRYGIAN, "chug", (30,), (29, 30), 2.0, (59, 79), keys=(4, 5, 6, 7, 9, 2),
        velocity=(110, 6), humanize=0.006),
    "pop": GenreSpec(
        (100, 128), 0.5, "pop", "roots8", (33, 38),
        (((I, "maj"), (V, "maj"), (VI, "min"), (IV, "maj")),
         ((VI, "min"), (IV, "maj"), (I, "maj"), (V, "maj"))),
        PENTA_MAJ, "block8", (0, 88, 89, 27), (80, 81, 0), 1.2, (65, 84), velocity=(92, 10)),
    "reggae": GenreSpec(
        (64, 88), 0.6, "one_drop", "reggae", (33,),
        (((I, "maj"), (IV, "maj")), ((I, "min"), (bVII, "maj")),
         ((I, "maj"), (IV, "maj"), (V, "maj"), (IV, "maj"))),
        PENTA_MAJ, "skank", (27, 16, 17), (16, 56, 22), 0.8, (62, 81)),
    "rock": GenreSpec(
        (100, 140), 0.5, "backbeat", "roots8", (33, 34),
        (((I, "5"), (IV, "5"), (V, "5"), (IV, "5")), ((I, "5"), (bVII, "5"), (IV, "5"),
                                                      (I, "5"))),
        PENTA_MIN, "power8", (29, 30, 18), (29, 30, 18), 1.5, (62, 84), velocity=(100, 10)),
}


def _drum_bar(groove: str, rng: np.random.Generator, fill: bool, crash: bool
              ) -> list[tuple[float, int, int]]:
    """One bar of a groove: (beat position in 0..4, GM key, velocity)."""
    h: list[tuple[float, int, int]] = []
    s = [i / 4 for i in range(16)]  # sixteenth positions
    if groove == "backbeat":
        h += [(s[i], HAT, 80 if i % 4 == 0 else 62) for i in range(0, 16, 2)]
        h += [(0.0, KICK, 110), (2.0, KICK, 100), (1.0, SNARE, 115), (3.0, SNARE, 118)]
        if rng.random() < 0.5:
            h.append((rng.choice([1.5, 2.5, 3.5]), KICK, 90))
    elif groove == "four_floor":
        h += [(float(b), KICK, 115) for b in range(4)]
        h += [(b + 0.5, OPEN_HAT, 90) for b in range(4)]
        h += [(s[i], HAT, 55) for i in range(16) if i % 2]
        h += [(1.0, CLAP, 105), (3.0, CLAP, 105), (1.0, SNARE2, 80), (3.0, SNARE2, 80)]
    elif groove == "one_drop":
        h += [(b / 2, HAT, 70 if b % 2 else 55) for b in range(8)]
        h += [(2.0, KICK, 110), (2.0, SIDE, 105)]
        if rng.random() < 0.3:
            h.append((3.5, SIDE, 70))
    elif groove == "swing_ride":
        h += [(float(b), RIDE, 90 if b % 2 else 80) for b in range(4)]
        h += [(1.5, RIDE, 70), (3.5, RIDE, 72), (1.0, HAT_FOOT, 70), (3.0, HAT_FOOT, 70)]
        h += [(float(b), KICK, 40) for b in range(4)]
        for _ in range(rng.integers(0, 3)):  # snare comping
            h.append((rng.integers(0, 8) / 2, SNARE, int(rng.integers(45, 75))))
    elif groove == "double_kick":
        h += [(s[i], KICK if i % 2 else KICK2, 105) for i in range(16)]
        h += [(1.0, SNARE, 120), (3.0, SNARE, 120)]
        h += [(b / 2, CHINA if rng.random() < 0.3 else RIDE, 85) for b in range(8)]
    elif groove == "boom_bap":
        h += [(s[i], HAT, 75 if i % 4 == 0 else 55) for i in range(0, 16, 2)]
        kick2 = float(rng.choice([1.75, 2.5, 2.75]))
        h += [(0.0, KICK, 120), (kick2, KICK, 105), (1.0, SNARE, 115), (3.0, SNARE, 118)]
        h += [(1.0, CLAP, 80), (3.0, CLAP, 80)]
    elif groove == "train":
        h += [(s[i], SNARE, 95 if i % 4 == 0 else 45) for i in range(16)]
        h += [(0.0, KICK, 100), (2.0, KICK, 100), (1.0, SIDE, 90), (3.0, SIDE, 90)]
    elif groove == "shuffle":
        h += [(b / 2, RIDE if rng.random() < 0.5 else HAT, 80 if b % 2 == 0 else 60)
              for b in range(8)]
        h += [(0.0, KICK, 100), (2.0, KICK, 100), (1.0, SNARE, 105), (3.0, SNARE, 108)]
    elif groove == "pop":
        h += [(s[i], HAT, 72 if i % 4 == 0 else 58) for i in range(0, 16, 2)]
        h += [(0.0, KICK, 110), (2.0, KICK, 105), (1.0, SNARE, 110), (3.0, SNARE, 110)]
        h += [(1.0, CLAP, 85), (3.0, CLAP, 85)]
        h.append((float(rng.choice([1.5, 2.5, 2.75])), KICK, 95))
    else:
        raise ValueError(f"unknown groove {groove!r}")
    if fill:  # the last beat (or two) becomes a snare/tom run into the next section
        start = 3.0 if rng.random() < 0.6 else 2.0
        h = [x for x in h if x[0] < start or x[1] in (KICK, KICK2)]
        toms = sorted(rng.choice(TOMS, size=3, replace=False), reverse=True)
        steps = np.arange(start, 4.0, 0.25)
        for i, t in enumerate(steps):
            key = SNARE if i < len(steps) // 3 else int(toms[min(2, i * 3 // len(steps))])
            h.append((float(t), key, int(90 + 25 * i / len(steps))))
    if crash:
        h.append((0.0, CRASH, 115))
    return h


def _chord_pitches(key: int, root: int, quality: str, low: int) -> list[int]:
    """The chord's pitches in the lowest voicing at or above ``low``."""
    base = low + (key + root - low) % 12
    return [base + x for x in CHORDS[quality]]


def _bass_bar(style: str, key: int, chord: tuple[int, str], nxt: tuple[int, str],
              rng: np.random.Generator) -> list[tuple[float, float, int]]:
    """One bar of bass: (beat, length in beats, pitch). Roots sit in MIDI 28-45."""
    root = 28 + (key + chord[0] - 28) % 12
    tones = [root + x for x in CHORDS[chord[1]] if x < 12]
    fifth = root + 7
    nxt_root = 28 + (key + nxt[0] - 28) % 12
    if style == "roots8":
        return [(b / 2, 0.45, root) for b in range(8)]
    if style == "root_fifth":
        return [(0.0, 0.9, root), (1.0, 0.9, fifth - 12 if fifth > 45 else fifth),
                (2.0, 0.9, root), (3.0, 0.9, fifth)]
    if style == "octaves":
        return [(b / 2, 0.3, root + 12 * (b % 2)) for b in range(8)]
    if style == "walking":
        pitches = [root, int(rng.choice(tones[1:])), int(rng.choice(tones)),
                   nxt_root + int(rng.choice([-1, 1, -2]))]
        return [(float(b), 0.9, p) for b, p in enumerate(pitches)]
    if style == "boogie":
        pattern = [0, 4, 7, 9, 10, 9, 7, 4]
        return [(b / 2, 0.45, root + pattern[b]) for b in range(8)]
    if style == "sparse":
        out = [(0.0, 1.2, root)]
        if rng.random() < 0.7:
            out.append((float(rng.choice([1.75, 2.5])), 0.5, root + int(rng.choice([0, 7, -2]))))
        return out
    if style == "reggae":  # beat 1 left empty, melodic and syncopated
        cands = [root, root + 7, root + 12, tones[1] if len(tones) > 1 else root + 7]
        times = [0.5, 1.0, 1.75, 2.5, 3.0, 3.5]
        return [(t, 0.4, int(rng.choice(cands))) for t in times if rng.random() < 0.75]
    if style == "riff":
        out = []
        for i in range(16):
            if rng.random() < 0.8 or i % 4 == 0:
                out.append((i / 4, 0.2, root if rng.random() < 0.85 else root + 1))
        return out
    if style == "cello":
        return [(0.0, 1.9, root), (2.0, 1.9, int(rng.choice([root, fifth, tones[1] + 12 - 12])))]
    raise ValueError(f"unknown bass style {style!r}")


def _comp_bar(style: str, pitches: list[int], rng: np.random.Generator
              ) -> list[tuple[float, float, int, float]]:
    """One bar of comping: (beat, length, pitch, velocity scale)."""
    out: list[tuple[float, float, int, float]] = []

    def chord(t: float, length: float, vel: float = 1.0) -> None:
        out.extend((t, length, p, vel) for p in pitches)

    if style == "pad":
        chord(0.0, 3.95, 0.75)
    elif style == "power8":
        for b in range(8):
            chord(b / 2, 0.45, 1.0 if b % 2 == 0 else 0.85)
    elif style == "chug":
        for i in range(16):
            if i % 4 == 0 or rng.random() < 0.6:
                out.append((i / 4, 0.18, pitches[0], 1.0))
                out.append((i / 4, 0.18, pitches[1], 0.9))
    elif style == "skank":
        for b in range(4):
            chord(b + 0.5, 0.2, 0.9)
    elif style == "stabs":
        for t in (0.5, 1.5, 2.5, 3.5) if rng.random() < 0.5 else (0.0, 1.5, 2.0, 3.5):
            chord(t, 0.3, 0.9)
    elif style == "strum":
        for t, v in ((0.0, 1.0), (1.0, 0.7), (1.5, 0.6), (2.0, 0.9), (3.0, 0.7), (3.5, 0.6)):
            out.extend((t + 0.015 * i, 0.45, p, v) for i, p in enumerate(pitches))
    elif style == "comp_swing":  # Charleston and anticipations
        for t in ((0.0, 1.5), (1.5, 3.5), (0.5, 2.5))[int(rng.integers(3))]:
            chord(t, 0.4, 0.8)
    elif style == "shuffle_stabs":
        for t in (0.5, 1.5, 2.5, 3.5):
            chord(t, 0.3, 0.7)
    elif style == "block8":
        for b in range(8):
            chord(b / 2, 0.45, 0.8 if b % 2 == 0 else 0.65)
    elif style == "loop":
        chord(0.0, 1.4, 0.85)
        chord(2.5, 1.0, 0.8)
    else:
        raise ValueError(f"unknown comp style {style!r}")
    return out


def _lead_phrase(spec: GenreSpec, key: int, n_beats: int, rng: np.random.Generator
                 ) -> list[tuple[float, float, int]]:
    """A phrase of ``n_beats``: a random walk on the genre's scale in its register, with rests."""
    low, high = spec.lead_register
    scale = [p for p in range(low, high + 1) if (p - key) % 12 in spec.scale]
    idx = int(rng.integers(len(scale) // 3, 2 * len(scale) // 3))
    unit = 0.25 if spec.lead_density >= 1.8 else 0.5
    out, t = [], 0.0
    while t < n_beats - 1e-6:
        length = unit * int(rng.choice([1, 1, 2, 2, 3, 4]) if spec.lead_density < 1.8
                            else rng.choice([1, 1, 1, 2, 2, 4]))
        length = min(length, n_beats - t)
        if rng.random() < min(0.9, spec.lead_density * unit * 1.5):
            idx = int(np.clip(idx + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 0,
                              len(scale) - 1))
            out.append((t, length * 0.9, scale[idx]))
        t += length
    return out


@dataclass(frozen=True)
class Arrangement:
    """A rendered-to-be clip: notes in seconds, programs per part, and what was drawn."""

    notes: list[Note]
    programs: dict[str, int]
    tempo: float
    key: int
    genre: str


def _swung(t: float, swing: float, unit: float) -> float:
    """Move an off-beat position to ``swing`` of its pair (unit = the swung note value)."""
    pair = 2 * unit
    k, r = divmod(t, pair)
    if abs(r - unit) < 1e-6:
        r = swing * pair
    return k * pair + r


def arrange(genre: str, seconds: float, rng: np.random.Generator) -> Arrangement:
    """Compose ``seconds`` of ``genre``: sections of 4 or 8 bars, fills and crashes at their
    edges, the lead in choruses (and throughout for classical), humanized timing/velocity."""
    spec = SPECS[genre]
    tempo = float(rng.uniform(*spec.tempo))
    key = int(rng.choice(spec.keys))
    prog = spec.progressions[int(rng.integers(len(spec.progressions)))]
    programs = {"bass": int(rng.choice(spec.bass_programs)),
                "comp": int(rng.choice(spec.comp_programs)),
                "lead": int(rng.choice(spec.lead_programs))}
    spb = 60.0 / tempo
    n_bars = int(np.ceil(seconds / (4 * spb))) + 1
    section = 8 if len(prog) > 4 or rng.random() < 0.5 else 4  # bars per section
    vmean, vspread = spec.velocity
    comp_low = 52 if spec.comp in ("power8", "chug") else 55
    motif = _lead_phrase(spec, key, 8, rng)  # a two-bar motif, repeated and varied
    beats: list[tuple[str, int, float, float, float]] = []  # part, pitch, start, len, vel scale
    for bar in range(n_bars):
        chord, nxt = prog[bar % len(prog)], prog[(bar + 1) % len(prog)]
        sec_idx, in_sec = divmod(bar, section)
        chorus = sec_idx % 2 == 1 or genre == "classical"
        intro = sec_idx == 0 and in_sec < 2 and genre != "classical"
        t0 = 4.0 * bar
        if spec.groove is not None:
            fill = in_sec == section - 1 and rng.random() < 0.8
            for t, k, v in _drum_bar(spec.groove, rng, fill, crash=in_sec == 0 and bar > 0):
                beats.append(("drums", k, t0 + t, 0.25, v / 100))
        if not intro or spec.groove is None:
            for t, ln, p in _bass_bar(spec.bass, key, chord, nxt, rng):
                beats.append(("bass", p, t0 + t, ln, 0.95))
        pitches = _chord_pitches(key, chord[0], chord[1], comp_low)
        for t, ln, p, vel in _comp_bar(spec.comp, pitches, rng):
            beats.append(("comp", p, t0 + t, ln, vel * (0.8 if chorus else 0.9)))
        if chorus:
            phrase = motif if (bar // 2) % 2 == 0 else _lead_phrase(spec, key, 8, rng)
            for t, ln, p in phrase:
                if (bar % 2) * 4 <= t < (bar % 2) * 4 + 4:
                    beats.append(("lead", p, t0 + t - (bar % 2) * 4, ln, 1.0))
    notes = []
    for part, pitch, start, length, vscale in beats:
        start = _swung(start, spec.swing, spec.swing_unit)
        jitter = rng.normal(0.0, spec.humanize) if part != "drums" or start % 1 else 0.0
        vel = int(np.clip(rng.normal(vmean * vscale, vspread / 2), 20, 127))
        s = max(0.0, (start + jitter) * spb)
        if s >= seconds:
            continue
        notes.append(Note(part, int(pitch), s, max(0.03, length * spb), vel))
    return Arrangement(notes, programs, tempo, key, genre)
