"""The procedural toy corpus: GTZAN layout and format, determinism, and audible genre identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavegen.audio import resample
from wavegen.data.toy import (
    GTZAN_GENRES,
    KEYS_PER_GENRE,
    STYLES,
    TOY_SAMPLE_RATE,
    labelled_clips,
    make_toy_corpus,
    render_clip,
)

TOY_CLIPS, TOY_DURATION = 3, 1.0  # the shared ``toy_corpus`` fixture (tests/conftest.py)


def clip(root: Path, genre: str, k: int) -> Path:
    return root / "genres" / genre / f"{genre}.{k:05d}.wav"


def spectral_centroid(x: np.ndarray, sr: int) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / sr)
    return float((power * freqs).sum() / power.sum())


def test_gtzan_genre_names() -> None:
    assert GTZAN_GENRES == ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal",
                            "pop", "reggae", "rock")


def test_layout_has_exactly_the_expected_files(toy_corpus: Path) -> None:
    files = {p.relative_to(toy_corpus).as_posix() for p in toy_corpus.rglob("*") if p.is_file()}
    assert files == {f"genres/{g}/{g}.{k:05d}.wav" for g in GTZAN_GENRES for k in range(TOY_CLIPS)}


def test_returns_the_genres_folder(tmp_path: Path) -> None:
    assert make_toy_corpus(tmp_path, clips_per_genre=0) == tmp_path / "genres"


@pytest.mark.parametrize("genre", GTZAN_GENRES)
def test_format_is_gtzans(toy_corpus: Path, genre: str) -> None:
    info = sf.info(str(clip(toy_corpus, genre, 0)))
    assert (info.format, info.subtype) == ("WAV", "PCM_16")
    assert (info.samplerate, info.channels) == (22050, 1)
    assert info.frames == round(TOY_DURATION * 22050)


@pytest.mark.parametrize("genre", GTZAN_GENRES)
def test_level_is_in_range_and_not_silent(toy_corpus: Path, genre: str) -> None:
    for k in range(TOY_CLIPS):
        x, _ = sf.read(str(clip(toy_corpus, genre, k)), dtype="float32")
        assert np.abs(x).max() <= 1.0
        assert 0.5 < np.abs(x).max() < 0.85  # normalized to a peak in [0.6, 0.8]
        assert np.sqrt(np.mean(x**2)) > 0.02


def test_render_clip_length_and_dtype() -> None:
    x = render_clip("jazz", 0.5, seed=3)
    assert x.dtype == np.float32 and x.shape == (11025,)
    assert render_clip("rock", 0.123, seed=3, sr=8000).shape == (984,)
    np.testing.assert_array_equal(x, render_clip("jazz", 0.5, seed=3))


def test_same_seed_is_byte_identical_and_prefix_stable(toy_corpus: Path, tmp_path: Path) -> None:
    """A 2-clip corpus reproduces clips 0 and 1 of the 3-clip corpus byte for byte."""
    make_toy_corpus(tmp_path, clips_per_genre=2, duration=TOY_DURATION, seed=0)
    for genre in GTZAN_GENRES:
        for k in range(2):
            assert clip(tmp_path, genre, k).read_bytes() == clip(toy_corpus, genre, k).read_bytes()
        assert not clip(tmp_path, genre, 2).exists()


def test_clip_depends_on_genre_not_on_the_genre_list(toy_corpus: Path, tmp_path: Path) -> None:
    make_toy_corpus(tmp_path, clips_per_genre=1, duration=TOY_DURATION, seed=0,
                    genres=("rock", "jazz"))
    for genre in ("rock", "jazz"):
        assert clip(tmp_path, genre, 0).read_bytes() == clip(toy_corpus, genre, 0).read_bytes()


def test_different_seed_gives_different_audio(toy_corpus: Path, tmp_path: Path) -> None:
    make_toy_corpus(tmp_path, clips_per_genre=1, duration=TOY_DURATION, seed=1,
                    genres=("blues", "pop"))
    for genre in ("blues", "pop"):
        a, _ = sf.read(str(clip(tmp_path, genre, 0)))
        b, _ = sf.read(str(clip(toy_corpus, genre, 0)))
        assert np.abs(a - b).mean() > 0.01


def test_clips_within_a_genre_differ(toy_corpus: Path) -> None:
    a, _ = sf.read(str(clip(toy_corpus, "metal", 0)))
    b, _ = sf.read(str(clip(toy_corpus, "metal", 1)))
    assert np.abs(a - b).mean() > 0.01


def test_genres_differ_measurably(toy_corpus: Path) -> None:
    def mean_centroid(genre: str) -> float:
        return float(np.mean([
            spectral_centroid(sf.read(str(clip(toy_corpus, genre, k)))[0], TOY_SAMPLE_RATE)
            for k in range(TOY_CLIPS)]))

    # hiphop: low bass register; classical: high, nearly pure partials.
    assert mean_centroid("hiphop") < 0.5 * mean_centroid("classical")
    assert mean_centroid("metal") < mean_centroid("pop")


def test_drone_bands_are_disjoint() -> None:
    """Each genre's key roots (``key`` .. ``key + KEYS_PER_GENRE - 1``) are no other genre's."""
    keys = sorted(style.key for style in STYLES.values())
    assert len(keys) == len(GTZAN_GENRES)
    assert min(b - a for a, b in zip(keys[:-1], keys[1:], strict=True)) >= KEYS_PER_GENRE


@pytest.mark.parametrize("genre", GTZAN_GENRES)
def test_drone_sounds_in_the_genres_key_band(genre: str) -> None:
    """The steadiest tone of a clip, its strongest spectral peak over all drone bands, is the
    root of one of the genre's keys or that root's octave."""
    style = STYLES[genre]
    keys = [s.key for s in STYLES.values()]
    low_hz = 440.0 * 2 ** ((min(keys) - 0.5 - 69) / 12)
    high_hz = 440.0 * 2 ** ((max(keys) + KEYS_PER_GENRE - 0.5 - 69) / 12)
    for seed in range(4):
        x = render_clip(genre, 4.0, seed=100 + seed)
        power = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
        freqs = np.fft.rfftfreq(x.size, 1.0 / TOY_SAMPLE_RATE)
        band = (freqs > low_hz) & (freqs < high_hz)
        peak = 69 + 12 * np.log2(freqs[band][power[band].argmax()] / 440.0)
        roots = range(style.key, style.key + KEYS_PER_GENRE)
        assert any(abs(peak - r) < 0.5 or abs(peak - r - 12) < 0.5 for r in roots), (
            f"{genre}: strongest peak at MIDI {peak:.1f}, key band from {style.key}")


def test_parts_are_rendered_from_the_same_draws() -> None:
    """A clip is a weighted sum of its melody-only and its drums-and-drone-only renderings."""
    full = render_clip("disco", 1.0, seed=5, sr=8000)
    melody = render_clip("disco", 1.0, seed=5, sr=8000, parts=("melody",))
    rest = render_clip("disco", 1.0, seed=5, sr=8000, parts=("drums", "drone"))
    basis = np.stack([melody, rest], axis=1).astype(np.float64)
    weights, *_ = np.linalg.lstsq(basis, full.astype(np.float64), rcond=None)
    assert np.all(weights > 0.1)
    assert np.abs(basis @ weights - full).max() < 1e-5
    assert np.abs(melody).max() > 0.5 and np.abs(rest).max() > 0.5  # each normalized


@pytest.mark.parametrize("parts", [(), ("melody", "bass")])
def test_unknown_or_no_parts_are_refused(parts: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="subset"):
        render_clip("rock", 0.1, seed=0, parts=parts)


def test_labelled_clips_are_resampled_renderings_in_genre_order() -> None:
    clips, labels = labelled_clips(7, 2, 0.5, 8000, parts=("drone",))
    assert labels.tolist() == [g for g in range(len(GTZAN_GENRES)) for _ in range(2)]
    assert all(c.shape == (4000,) for c in clips)
    again = render_clip(GTZAN_GENRES[3], 0.5, seed=7 * 1000 + 3 * 100 + 1, parts=("drone",))
    np.testing.assert_allclose(clips[7], resample(again, TOY_SAMPLE_RATE, 8000), atol=1e-7)
