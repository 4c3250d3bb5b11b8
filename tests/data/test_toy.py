"""The procedural toy corpus: GTZAN layout and format, determinism, and audible genre identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavegen.data.toy import GTZAN_GENRES, TOY_SAMPLE_RATE, make_toy_corpus, render_clip

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
