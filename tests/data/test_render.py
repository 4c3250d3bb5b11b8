"""The rendered-instrument corpus: arrangements per genre, SoundFont rendering, layout, levels."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from wavegen.audio import integrated_loudness, read_audio
from wavegen.data import arrange as A
from wavegen.data.render import (
    GAIN_JITTER_DB,
    NOISE_FLOOR_DBFS,
    RENDER_SAMPLE_RATE,
    ROOM_RT60_S,
    TARGET_LUFS,
    RecordingChain,
    clip_seed,
    make_rendered_corpus,
    render_clip,
)
from wavegen.data.toy import GTZAN_GENRES
from wavegen.errors import WavegenError


def _arr(genre, seed=0, seconds=30.0):
    return A.arrange(genre, seconds, np.random.default_rng(seed))


def _drum_beats(arr, key):
    """Beat positions (in beats, modulo the bar) of a drum key."""
    spb = 60.0 / arr.tempo
    return np.array([(n.start / spb) % 4 for n in arr.notes
                     if n.part == "drums" and n.pitch == key])


@pytest.mark.parametrize("genre", GTZAN_GENRES)
def test_arrangement_is_valid_midi_within_the_clip_and_the_genre_tempo(genre):
    for seed in range(3):
        arr = _arr(genre, seed)
        lo, hi = A.SPECS[genre].tempo
        assert lo <= arr.tempo <= hi
        assert arr.notes and all(0 <= n.start < 30.0 for n in arr.notes)
        assert all(0 <= n.pitch <= 127 and 1 <= n.velocity <= 127 and n.duration > 0
                   for n in arr.notes)
        parts = {n.part for n in arr.notes}
        assert {"bass", "comp", "lead"} <= parts
        assert ("drums" in parts) == (genre != "classical")  # no kit for classical


def test_grooves_put_the_genre_defining_hits_where_they_belong():
    disco = _drum_beats(_arr("disco"), A.KICK)
    assert np.allclose(np.sort(np.unique(np.round(disco))) % 4, [0, 1, 2, 3])  # four on the floor
    reggae = _drum_beats(_arr("reggae"), A.KICK)
    assert np.all(np.abs(reggae - 2.0) < 0.2)  # one drop: the kick only on beat 3
    rock = _arr("rock")
    snare = _drum_beats(rock, A.SNARE)
    assert np.mean(np.min(np.abs(snare[:, None] - np.array([1.0, 3.0])), 1) < 0.1) > 0.7
    metal = _arr("metal")
    kicks = [n for n in metal.notes if n.part == "drums" and n.pitch in (A.KICK, A.KICK2)]
    assert len(kicks) / (30.0 * metal.tempo / 60) > 3.0  # double kick: sixteenths
    jazz = _arr("jazz")  # swung ride: the off-beat "a" sits at 2/3 of the beat, not 1/2
    spb = 60.0 / jazz.tempo
    ride = np.array([(n.start / spb) % 1 for n in jazz.notes if n.pitch == A.RIDE])
    off = ride[(ride > 0.3) & (ride < 0.9)]
    assert off.size and abs(np.median(off) - 2 / 3) < 0.05


def test_fills_and_crashes_mark_section_edges():
    arr = _arr("rock", seed=1, seconds=30.0)
    toms = [n for n in arr.notes if n.part == "drums" and n.pitch in A.TOMS]
    crashes = [n for n in arr.notes if n.part == "drums" and n.pitch == A.CRASH]
    assert toms and crashes


def test_render_is_deterministic_and_seeded():
    a, facts = render_clip("jazz", 3.0, seed=5)
    b, _ = render_clip("jazz", 3.0, seed=5)
    c, _ = render_clip("jazz", 3.0, seed=6)
    assert a.shape == (3 * RENDER_SAMPLE_RATE,) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.abs(a).max() <= 10 ** (-1 / 20) + 1e-6
    assert facts["programs"]["lead"] in A.SPECS["jazz"].lead_programs


def test_parts_leave_the_rest_of_the_clip_unchanged():
    full, _ = render_clip("rock", 4.0, seed=3)
    drums, _ = render_clip("rock", 4.0, seed=3, parts=("drums",))
    rest, _ = render_clip("rock", 4.0, seed=3, parts=("bass", "comp", "lead"))
    assert np.sqrt(np.mean(drums ** 2)) > 0.01 and np.sqrt(np.mean(rest ** 2)) > 0.01
    # the synthesizer mixes additively; only the soft limiter's knee bends the sum
    err = np.sqrt(np.mean((drums + rest - full) ** 2)) / np.sqrt(np.mean(full ** 2))
    assert err < 0.15


def test_level_does_not_identify_the_genre():
    levels = [integrated_loudness(render_clip(g, 6.0, seed=1)[0], RENDER_SAMPLE_RATE)
              for g in GTZAN_GENRES]
    assert max(levels) - min(levels) <= 2 * GAIN_JITTER_DB + 1.5
    assert all(abs(v - TARGET_LUFS) <= GAIN_JITTER_DB + 1.5 for v in levels)


@pytest.mark.parametrize("kwargs", [
    {"genre": "polka"}, {"genre": ""}, {"seconds": 0}, {"seconds": -1.0},
    {"seconds": float("inf")}, {"seconds": float("nan")}, {"seconds": 1e9}, {"seconds": "3"},
    {"parts": ()}, {"parts": ("drums", "drums")}, {"parts": ("vocals",)},
])
def test_render_clip_refuses_bad_arguments(kwargs):
    args = {"genre": "rock", "seconds": 1.0, **kwargs}
    with pytest.raises(WavegenError):
        render_clip(args.pop("genre"), args.pop("seconds"), 0, **args)


@pytest.mark.parametrize("kwargs", [
    {"clips_per_genre": 0}, {"clips_per_genre": -1}, {"clips_per_genre": 1.5},
    {"jobs": 0}, {"jobs": -2}, {"seed": -5}, {"seed": 1.5}, {"genres": ("polka",)},
    {"genres": ()}, {"seconds": float("nan")},
])
def test_make_rendered_corpus_refuses_bad_arguments(tmp_path, kwargs):
    args = {"clips_per_genre": 1, "seconds": 1.0, **kwargs}
    with pytest.raises(WavegenError):
        make_rendered_corpus(tmp_path / "c", **args)
    assert not (tmp_path / "c").exists()


def test_corpus_in_gtzan_layout_resumes_and_extends(tmp_path):
    root = make_rendered_corpus(tmp_path, clips_per_genre=1, seconds=1.0, seed=2,
                                genres=("rock", "jazz"))
    first = root / "rock" / "rock.00000.wav"
    info = sf.info(str(first))
    assert info.samplerate == 22050 and info.channels == 1 and info.frames == 22050
    before = first.read_bytes()
    make_rendered_corpus(tmp_path, clips_per_genre=2, seconds=1.0, seed=2, genres=("rock",),
                         jobs=2)
    assert first.read_bytes() == before  # a larger corpus extends a smaller one
    assert (root / "rock" / "rock.00001.wav").is_file()


@pytest.mark.parametrize("flag,value", [
    ("--clips-per-genre", "0"), ("--clips-per-genre", "x"), ("--duration", "inf"),
    ("--duration", "-3"), ("--duration", "nan"), ("--jobs", "0"), ("--seed", "-5"),
])
def test_cli_bad_values_exit_2_with_one_line(tmp_path, flag, value):
    r = subprocess.run([sys.executable, "-m", "wavegen", "render-corpus", str(tmp_path / "c"),
                        "--clips-per-genre", "1", "--duration", "0.5", flag, value],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.strip()


def test_recording_chain_room_and_noise_are_what_they_say():
    chain = RecordingChain(RENDER_SAMPLE_RATE, np.random.default_rng(3))
    assert ROOM_RT60_S[0] <= chain.rt60 <= ROOM_RT60_S[1]
    n = 4 * RENDER_SAMPLE_RATE
    noise = chain.noise(n).astype(np.float64)
    assert 20 * np.log10(np.sqrt(np.mean(noise ** 2))) == pytest.approx(chain.noise_dbfs, abs=0.01)
    # Pink: equal power per octave, so 100-200 Hz holds about what 1-2 kHz holds (white: 10x less).
    power = np.abs(np.fft.rfft(noise)) ** 2
    f = np.fft.rfftfreq(n, 1 / RENDER_SAMPLE_RATE)
    low, high = power[(f >= 100) & (f < 200)].sum(), power[(f >= 1000) & (f < 2000)].sum()
    assert 0.7 < low / high < 1.4
    # The room: reverberant energy wet_db below the direct sound, decaying 60 dB over rt60.
    impulse = np.zeros(n, dtype=np.float32)
    impulse[100] = 0.5
    wet = chain.room(impulse).astype(np.float64) - impulse
    assert 10 * np.log10(np.sum(wet ** 2) / np.sum(impulse.astype(np.float64) ** 2)) == \
        pytest.approx(chain.wet_db, abs=0.05)
    span = int(0.1 * chain.rt60 * RENDER_SAMPLE_RATE)
    early = np.mean(wet[100:100 + span] ** 2)
    late = np.mean(wet[100 + 9 * span:100 + 10 * span] ** 2)
    assert 10 * np.log10(late / early) == pytest.approx(-54, abs=6)  # -60 dB x 0.9 rt60
    assert np.abs(wet[100 + 11 * span:]).max() < 1e-6  # the response ends at rt60


@pytest.mark.parametrize("genre", ["jazz", "reggae"])
def test_recording_chain_keeps_the_music_and_ends_digital_silence(genre):
    plain, facts = render_clip(genre, 3.0, seed=5)
    chained, chained_facts = render_clip(genre, 3.0, seed=5, recording_chain=True)
    assert {k: chained_facts[k] for k in facts} == facts  # same arrangement, tempo, key
    assert not np.allclose(plain, chained) and chained.dtype == np.float32
    windows = chained[: chained.size // 441 * 441].astype(np.float64).reshape(-1, 441)
    quietest = 10 * np.log10(np.mean(windows ** 2, axis=1).min())
    assert quietest > NOISE_FLOOR_DBFS[0] - 10  # never digital silence: the floor is there
    level = integrated_loudness(chained, RENDER_SAMPLE_RATE)
    assert abs(level - TARGET_LUFS) <= GAIN_JITTER_DB + 1.5
    drums, _ = render_clip(genre, 3.0, seed=5, parts=("drums",), recording_chain=True)
    assert drums.shape == chained.shape


def test_render_corpus_cli_writes_a_chained_corpus(tmp_path):
    from wavegen.cli import main

    assert main(["render-corpus", str(tmp_path / "db"), "--clips-per-genre", "1",
                 "--duration", "0.5", "--recording-chain"]) == 0
    clips = sorted((tmp_path / "db" / "genres").glob("*/*.wav"))
    assert len(clips) == 10
    x, _ = render_clip("blues", 0.5, clip_seed(0, "blues", 0), recording_chain=True)
    assert np.allclose(read_audio(clips[0])[0], x, atol=1 / 32767)
