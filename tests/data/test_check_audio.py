"""Decoding checks of data dirs: which files are bad, and what check_data_dir does with them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavegen.data.check import check_audio, check_data_dir
from wavegen.data.kaldi import read_table, validate_data_dir, write_table, write_vocab

NOISE = (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
needs_mp3 = pytest.mark.skipif("MP3" not in sf.available_formats(),
                               reason="this libsndfile cannot write MP3")


def write(path: Path, fmt: str, channels: int = 1) -> Path:
    data = np.stack([NOISE] * channels, axis=1) if channels > 1 else NOISE
    sf.write(str(path), data, 16000, format=fmt)
    return path


def truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize("fmt", ["WAV", "AU", pytest.param("MP3", marks=needs_mp3)])
def test_good_files_give_their_duration(tmp_path: Path, fmt: str) -> None:
    dur, problem = check_audio(write(tmp_path / f"x.{fmt.lower()}", fmt))
    assert problem == "" and dur == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("fmt", ["WAV", "AU", pytest.param("MP3", marks=needs_mp3)])
def test_truncated_files_are_bad(tmp_path: Path, fmt: str) -> None:
    dur, problem = check_audio(truncate(write(tmp_path / f"x.{fmt.lower()}", fmt)))
    assert dur is None and problem.startswith("truncated"), problem


def test_empty_missing_non_audio_and_stereo_files_are_bad(tmp_path: Path) -> None:
    (tmp_path / "empty.mp3").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not a RIFF file")
    stereo = write(tmp_path / "stereo.wav", "WAV", channels=2)
    assert check_audio(tmp_path / "empty.mp3") == (None, "empty file (0 bytes)")
    assert check_audio(tmp_path / "nothing.wav") == (None, "no such file")
    assert "is not that of a .wav file" in check_audio(tmp_path / "text.wav")[1]
    assert check_audio(stereo) == (None, "2 channels, expected 1")
    assert check_audio(stereo, channels=0)[0] == pytest.approx(0.5, abs=1e-3)


def test_check_data_dir_drops_bad_files_from_every_table(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    good = [write(tmp_path / f"g{k}.wav", "WAV") for k in range(3)]
    (tmp_path / "bad.wav").write_text("junk")
    wavs = {"u1": good[0], "u2": tmp_path / "bad.wav", "u3": good[1], "u4": good[2]}
    d = tmp_path / "data"
    d.mkdir()
    write_table(d / "wav.scp", {u: str(p) for u, p in wavs.items()})
    write_table(d / "utt2genre", {u: "rock" for u in wavs})
    write_vocab(d / "genres.txt", ["rock"])
    (d / "bad_files").write_text("missing.00001\n")
    with caplog.at_level(logging.WARNING, logger="wavegen"):
        assert check_data_dir(d) == 3
    assert validate_data_dir(d) == ["u1", "u3", "u4"]
    assert list(read_table(d / "utt2genre")) == ["u1", "u3", "u4"]
    assert read_table(d / "utt2dur") == {"u1": "0.500", "u3": "0.500", "u4": "0.500"}
    assert (d / "bad_files").read_text() == f"missing.00001\n{tmp_path / 'bad.wav'}\n"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"skipping {tmp_path / 'bad.wav'}: " + check_audio(tmp_path / "bad.wav")[1]]


def _float_wav(path: Path, samples: np.ndarray) -> Path:
    sf.write(str(path), samples.astype(np.float32), 16000, subtype="FLOAT")
    return path


def _with(values: dict[int, float]) -> np.ndarray:
    x = NOISE.copy()
    for i, v in values.items():
        x[i] = v
    return x


@pytest.mark.parametrize("name,make,reason", [
    ("all_nan.wav", lambda p: _float_wav(p, np.full(8000, np.nan)), "8000 non-finite"),
    ("one_nan.wav", lambda p: _float_wav(p, _with({4000: np.nan})), "1 non-finite"),
    ("one_inf.wav", lambda p: _float_wav(p, _with({0: np.inf})), "1 non-finite"),
    ("neg_inf.wav", lambda p: _float_wav(p, _with({7999: -np.inf})), "1 non-finite"),
    ("huge.wav", lambda p: _float_wav(p, NOISE * 1e6), "implausible level"),
    ("silence.wav", lambda p: _float_wav(p, np.zeros(8000)), "digital silence"),
    ("dc.wav", lambda p: _float_wav(p, np.full(8000, 0.25)), "constant signal"),
    ("pcm_silence.wav", lambda p: (sf.write(str(p), np.zeros(800), 16000), p)[1],
     "digital silence"),
    ("text.au", lambda p: (p.write_text("just some text, " * 500), p)[1], "not that of a .au"),
    ("wav_named.au", lambda p: write(p, "WAV"), "not that of a .au"),
    ("au_named.wav", lambda p: write(p, "AU"), "not that of a .wav"),
    ("text.flac", lambda p: (p.write_text("fLa"), p)[1], "not that of a .flac"),
    ("wav_named.flac", lambda p: write(p, "WAV"), "not that of a .flac"),
    ("text.mp3", lambda p: (p.write_text("no frames here" * 100), p)[1], "not an MP3"),
    ("zeros.mp3", lambda p: (p.write_bytes(bytes(4096)), p)[1], "not an MP3"),
    ("binary.wav", lambda p: (p.write_bytes(np.random.default_rng(0).bytes(9000)), p)[1],
     "not that of a .wav"),
])
def test_garbage_audio_is_bad(tmp_path: Path, name: str, make, reason: str) -> None:
    """Files that decode to something that is not music, or not at all what their name says."""
    dur, problem = check_audio(make(tmp_path / name))
    assert dur is None and reason in problem, problem


def test_garbage_is_listed_in_bad_files_and_the_rest_prepared(tmp_path: Path) -> None:
    good = write(tmp_path / "good.wav", "WAV")
    nan = _float_wav(tmp_path / "nan.wav", _with({10: np.nan}))
    text = tmp_path / "text.au"
    text.write_text("hello " * 1000)
    d = tmp_path / "data"
    d.mkdir()
    wavs = {"a": good, "b": nan, "c": text}
    write_table(d / "wav.scp", {u: str(p) for u, p in wavs.items()})
    write_table(d / "utt2genre", {u: "rock" for u in wavs})
    write_vocab(d / "genres.txt", ["rock"])
    assert check_data_dir(d) == 1
    assert (d / "bad_files").read_text().split() == [str(nan), str(text)]


@needs_mp3
def test_an_mp3_with_leading_junk_is_still_good(tmp_path: Path) -> None:
    """Decoders skip a little junk before the first MPEG frame; so does the header check."""
    clean = write(tmp_path / "clean.mp3", "MP3")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(bytes(300) + clean.read_bytes())
    assert check_audio(junk)[1] == "" and check_audio(clean)[1] == ""
