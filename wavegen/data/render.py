"""A rendered-instrument genre corpus: arrangements (:mod:`wavegen.data.arrange`) played by a
General MIDI SoundFont, in GTZAN's layout.

``genres/<genre>/<genre>.000NN.wav``, mono 16-bit at 22050 Hz, 30 s by default, like GTZAN.
Rendering is offline and needs only PyPI wheels: ``pretty-midi`` writes the MIDI file and ships
a 6 MB General MIDI SoundFont (``TimGM6mb.sf2``); ``midirenderer`` (a Rust synthesizer wheel
with no system libraries) renders MIDI and SoundFont bytes to a 48 kHz stereo WAV. (FluidSynth
needs a system library; the ``tinysoundfont`` wheel depends on pyaudio, which needs PortAudio
headers to build.) Every clip is loudness-normalized to :data:`TARGET_LUFS` plus a gain drawn
from the same range for every genre, so level says nothing about genre.

Clip ``k`` of a genre depends only on ``(seed, genre, k)``: a larger corpus extends a smaller
one, and a part can be left out (``parts``) with the rest of the clip unchanged.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from wavegen.audio import integrated_loudness, resample, write_wav
from wavegen.data.arrange import PARTS, arrange
from wavegen.data.toy import GTZAN_GENRES
from wavegen.errors import WavegenError
from wavegen.progress import progress

RENDER_SAMPLE_RATE = 22050
TARGET_LUFS = -20.0
GAIN_JITTER_DB = 2.0  # the same uniform +-range for every genre
MAX_SECONDS = 600.0
# The optional recording chain (``recording_chain=True``): drawn per clip from the same ranges
# for every genre, so neither room nor noise says anything about genre.
ROOM_RT60_S = (0.25, 0.9)  # reverberation time of the room
ROOM_WET_DB = (-16.0, -8.0)  # reverberant energy relative to the direct sound
NOISE_FLOOR_DBFS = (-66.0, -56.0)  # RMS of the pink noise floor in the written clip


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as e:  # a dependency of the package: say how to get it back
        raise WavegenError(f"rendering needs the '{module}' package: "
                           f"pip install pretty-midi midirenderer ({e})") from e


@lru_cache(maxsize=1)
def soundfont_bytes() -> bytes:
    """The General MIDI SoundFont that ``pretty-midi`` ships (``TimGM6mb.sf2``)."""
    pm = _require("pretty_midi")
    path = Path(pm.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise WavegenError(f"{path} is missing: reinstall pretty-midi")
    return path.read_bytes()


def midi_bytes(arr, parts: tuple[str, ...] = PARTS) -> bytes:
    """The arrangement's ``parts`` as a standard MIDI file (bytes)."""
    pm = _require("pretty_midi")
    midi = pm.PrettyMIDI(initial_tempo=arr.tempo)
    insts = {}
    for part in parts:
        is_drum = part == "drums"
        insts[part] = pm.Instrument(program=0 if is_drum else arr.programs[part],
                                    is_drum=is_drum, name=part)
    for n in arr.notes:
        if n.part in insts:
            insts[n.part].notes.append(pm.Note(velocity=n.velocity, pitch=n.pitch,
                                               start=n.start, end=n.start + n.duration))
    for inst in insts.values():
        if not inst.notes:  # keep the file valid: one inaudible note
            inst.notes.append(pm.Note(velocity=1, pitch=60, start=0.0, end=0.01))
        midi.instruments.append(inst)
    buf = io.BytesIO()
    midi.write(buf)
    return buf.getvalue()


def render_midi(midi: bytes, rate: int = RENDER_SAMPLE_RATE) -> np.ndarray:
    """MIDI bytes -> mono float32 at ``rate`` (the SoundFont synthesizer renders 48 kHz
    stereo; channels are averaged)."""
    import soundfile as sf

    mr = _require("midirenderer")
    wav = mr.render_wave_from(soundfont_bytes(), midi)
    x, sr = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return resample(x.mean(axis=1), sr, rate)


def loudness_gain(x: np.ndarray, rate: int, gain_db: float) -> float:
    """The factor that brings ``x`` to ``TARGET_LUFS + gain_db`` integrated loudness
    (ITU-R BS.1770); 1 for a silent clip."""
    loud = integrated_loudness(x, rate)
    return float(10.0 ** ((TARGET_LUFS + gain_db - loud) / 20.0)) if np.isfinite(loud) else 1.0


def soft_limit(x: np.ndarray, ceiling_db: float = -1.0) -> np.ndarray:
    """Identity below half the ceiling, a tanh knee above it, never past the ceiling: peaks
    are tamed without turning the whole clip down (which would make level a genre cue)."""
    c = 10.0 ** (ceiling_db / 20)
    knee = 0.5 * c
    mag = np.abs(x)
    y = np.where(mag > knee, np.sign(x) * (knee + knee * np.tanh((mag - knee) / knee)), x)
    return y.astype(np.float32)


class RecordingChain:
    """What a recording adds to the instruments, drawn once per clip: a room (an exponentially
    decaying noise impulse response of reverberation time ``rt60``, mixed in ``wet_db`` below
    the direct sound) and a pink noise floor (``noise_dbfs`` RMS, 1/f power, like the hiss and
    rumble of a real chain). Real recordings never reach digital silence; rendered MIDI does
    between notes, and a model trained on it learns silence as an attractor.
    """

    def __init__(self, rate: int, rng: np.random.Generator) -> None:
        self.rate = rate
        self.rt60 = float(rng.uniform(*ROOM_RT60_S))
        self.wet_db = float(rng.uniform(*ROOM_WET_DB))
        self.noise_dbfs = float(rng.uniform(*NOISE_FLOOR_DBFS))
        t = np.arange(int(self.rt60 * rate)) / rate
        ir = rng.standard_normal(t.size) * 10.0 ** (-3.0 * t / self.rt60)  # -60 dB at rt60
        self.ir = ir / np.sqrt(np.sum(ir ** 2))  # unit energy
        self._noise_rng = np.random.default_rng(rng.integers(2**63))

    def room(self, x: np.ndarray) -> np.ndarray:
        """x (T,) plus its reverberation, ``wet_db`` below it in energy -> (T,) float32."""
        from scipy.signal import fftconvolve

        wet = fftconvolve(x, self.ir)[: x.size]
        dry_rms, wet_rms = np.sqrt(np.mean(x ** 2)), np.sqrt(np.mean(wet ** 2))
        if wet_rms == 0:
            return x.astype(np.float32)
        return (x + wet * (dry_rms / wet_rms) * 10.0 ** (self.wet_db / 20)).astype(np.float32)

    def noise(self, n: int) -> np.ndarray:
        """n samples of pink noise at ``noise_dbfs`` RMS -> (n,) float32."""
        spectrum = np.fft.rfft(self._noise_rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1.0 / self.rate)
        spectrum[1:] /= np.sqrt(f[1:] / f[1])  # 1/f power (pink) above the lowest bin
        spectrum[0] = 0.0
        pink = np.fft.irfft(spectrum, n)
        pink *= 10.0 ** (self.noise_dbfs / 20) / max(np.sqrt(np.mean(pink ** 2)), 1e-12)
        return pink.astype(np.float32)


def clip_seed(seed: int, genre: str, k: int) -> int:
    """The seed of clip ``k`` of ``genre`` in a corpus of seed ``seed``."""
    g = GTZAN_GENRES.index(genre)
    return int(np.random.SeedSequence([seed, g, k]).generate_state(1)[0])


def render_clip(genre: str, seconds: float = 30.0, seed: int = 0,
                parts: tuple[str, ...] = PARTS, rate: int = RENDER_SAMPLE_RATE,
                recording_chain: bool = False) -> tuple[np.ndarray, dict]:
    """One clip of ``genre``: ``(samples (round(seconds * rate),) float32, facts)``.

    ``facts`` holds the drawn tempo (bpm), key (pitch class), GM programs and note count.
    ``parts`` is a non-empty subset of ``drums, bass, comp, lead``; leaving one out changes
    nothing else (the arrangement is drawn in full first), and the loudness gain is the full
    mix's, so a part-only clip keeps its level in the mix. ``recording_chain`` adds a room
    and a noise floor (:class:`RecordingChain`, drawn from a generator of its own, so the
    arrangement, tempo and key are those of the clip without it).
    """
    if genre not in GTZAN_GENRES:
        raise WavegenError(f"unknown genre {genre!r}; one of {', '.join(GTZAN_GENRES)}")
    _check_seconds(seconds)
    if not parts or any(p not in PARTS for p in parts) or len(set(parts)) != len(parts):
        raise WavegenError(f"parts must be a non-empty subset of {PARTS}, got {parts}")
    rng = np.random.default_rng(seed)
    arr = arrange(genre, seconds, rng)
    gain_db = float(rng.uniform(-GAIN_JITTER_DB, GAIN_JITTER_DB))
    n = int(round(seconds * rate))
    full = _fit(render_midi(midi_bytes(arr), rate), n)
    kept = full if tuple(parts) == PARTS else _fit(render_midi(midi_bytes(arr, parts), rate), n)
    chain = RecordingChain(rate, np.random.default_rng([seed, 1])) if recording_chain else None
    if chain is not None:  # the same room for the full mix and the kept parts
        same = kept is full
        full = chain.room(full)
        kept = full if same else chain.room(kept)
    gain = loudness_gain(full, rate, gain_db)  # the full mix's gain, also for fewer parts
    out = soft_limit(kept * gain + (chain.noise(n) if chain is not None else 0.0))
    facts = {"tempo": arr.tempo, "key": arr.key, "programs": arr.programs,
             "n_notes": len(arr.notes)}
    if chain is not None:
        facts["chain"] = {"rt60": chain.rt60, "wet_db": chain.wet_db,
                          "noise_dbfs": chain.noise_dbfs}
    return out, facts


def _check_seconds(seconds: object) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (
            np.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise WavegenError(f"clip duration must be a number of seconds in (0, {MAX_SECONDS:g}], "
                           f"got {seconds!r}")


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad to n samples (the synthesizer renders release tails past the end)."""
    return x[:n] if x.size >= n else np.pad(x, (0, n - x.size))


def _write_one(job: tuple[Path, str, int, float, int, bool]) -> str:
    path, genre, k, seconds, seed, chain = job
    x, _ = render_clip(genre, seconds, clip_seed(seed, genre, k), recording_chain=chain)
    write_wav(path, x, RENDER_SAMPLE_RATE)
    return str(path)


def make_rendered_corpus(out: str | os.PathLike[str], clips_per_genre: int = 100,
                         seconds: float = 30.0, seed: int = 0,
                         genres: tuple[str, ...] = GTZAN_GENRES, jobs: int = 1,
                         recording_chain: bool = False) -> Path:
    """Write ``out/genres/<genre>/<genre>.000NN.wav``; returns the ``genres`` folder.

    Existing clips are kept (a stopped run resumes where it was); ``jobs`` processes render
    in parallel; ``recording_chain`` adds a room and a noise floor to every clip.
    """
    if not isinstance(clips_per_genre, int) or not 1 <= clips_per_genre <= 100000:
        raise WavegenError(f"--clips-per-genre must be an integer in [1, 100000], "
                           f"got {clips_per_genre}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise WavegenError(f"--seed must be a non-negative integer, got {seed!r}")
    if not isinstance(jobs, int) or not 1 <= jobs <= 256:
        raise WavegenError(f"--jobs must be an integer in [1, 256], got {jobs}")
    bad = [g for g in genres if g not in GTZAN_GENRES]
    if bad or not genres:
        raise WavegenError(f"unknown genre(s) {bad}; choose from {', '.join(GTZAN_GENRES)}")
    _check_seconds(seconds)
    render_clip(genres[0], min(seconds, 0.5), 0)  # fail fast on a broken install
    root = Path(out) / "genres"
    todo = []
    for genre in genres:
        (root / genre).mkdir(parents=True, exist_ok=True)
        for k in range(clips_per_genre):
            path = root / genre / f"{genre}.{k:05d}.wav"
            if not path.is_file():
                todo.append((path, genre, k, float(seconds), seed, bool(recording_chain)))
    bar = progress(total=len(todo), desc="render", unit="clip")
    if jobs == 1:
        for job in todo:
            _write_one(job)
            bar.update(1)
    else:
        # spawn, not fork: a forked child can inherit a held lock of torch's thread pools
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for _ in pool.map(_write_one, todo, chunksize=4):
                bar.update(1)
    bar.close()
    return root


def labelled_rendered_clips(seed: int, per_genre: int, seconds: float, rate: int,
                            parts: tuple[str, ...] = PARTS) -> tuple[list[np.ndarray], np.ndarray]:
    """``per_genre`` clips of every genre at ``rate`` Hz, for classifier checks.

    Clip k of genre g is clip k of the corpus of seed ``seed`` (so a seed other than the
    corpus's gives clips the corpus does not hold), with only ``parts`` kept.
    Returns clips [(round(seconds * rate),)] and their genre indices (N,).
    """
    clips, labels = [], []
    for g, genre in enumerate(GTZAN_GENRES):
        for k in range(per_genre):
            x, _ = render_clip(genre, seconds, clip_seed(seed, genre, k), parts=parts)
            clips.append(resample(x, RENDER_SAMPLE_RATE, rate))
            labels.append(g)
    return clips, np.asarray(labels)
