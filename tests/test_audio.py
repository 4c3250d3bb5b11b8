"""Audio I/O (atomic writes, clear read errors) and mu-law companding."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from wavegen.audio import (
    mu_law_decode,
    mu_law_encode,
    read_audio,
    resample,
    silence_code,
    write_wav,
)
from wavegen.errors import WavegenError


def ramp(n: int = 1000) -> np.ndarray:
    return np.linspace(-0.9, 0.9, n, dtype=np.float32)


def test_write_then_read(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    write_wav(path, ramp(), 16000)
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 1000)
    x, sr = read_audio(path)
    assert sr == 16000 and x.dtype == np.float32 and x.shape == (1000,)
    np.testing.assert_allclose(x, ramp(), atol=1.0 / 32767)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]  # no temp file left


def test_write_clips_to_full_scale(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", np.array([2.0, -3.0, 0.5]), 8000)
    x, _ = read_audio(tmp_path / "a.wav")
    np.testing.assert_allclose(x, [1.0, -1.0, 0.5], atol=1.0 / 32767)


def test_write_into_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "a.wav"
    with pytest.raises(WavegenError, match=r"output folder .*missing does not exist"):
        write_wav(target, ramp(), 16000)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    write_wav(path, ramp(), 16000)
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - soundfile's own error for a bad rate
        write_wav(path, np.zeros(10), 0)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_written_file_mode_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_wav(tmp_path / "a.wav", ramp(), 16000)
    finally:
        os.umask(old)
    assert (tmp_path / "a.wav").stat().st_mode & 0o777 == 0o640


def test_read_mixes_down_to_mono(tmp_path: Path) -> None:
    stereo = np.stack([np.full(100, 0.5), np.full(100, 0.25)], axis=1)
    sf.write(str(tmp_path / "s.wav"), stereo, 22050, subtype="PCM_16")
    x, sr = read_audio(tmp_path / "s.wav")
    assert sr == 22050 and x.shape == (100,)
    np.testing.assert_allclose(x, 0.375, atol=1e-4)


@pytest.mark.parametrize("content", [b"not audio", b"RIFF\x00\x00\x00\x00WAVEjunk"])
def test_read_non_audio(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(WavegenError, match=f"cannot read audio file {path}"):
        read_audio(path)


def test_read_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match="cannot read audio file"):
        read_audio(tmp_path / "nope.wav")
    sf.write(str(tmp_path / "empty.wav"), np.zeros(0), 16000, subtype="PCM_16")
    with pytest.raises(WavegenError, match="is empty"):
        read_audio(tmp_path / "empty.wav")


def test_resample() -> None:
    x = np.sin(2 * np.pi * 440 * np.arange(2205) / 22050).astype(np.float32)
    assert resample(x, 22050, 22050) is x
    y = resample(x, 22050, 16000)
    assert y.dtype == np.float32 and abs(y.size - 1600) <= 1
    ref = np.sin(2 * np.pi * 440 * np.arange(y.size) / 16000)
    assert np.abs(y - ref)[100:-100].max() < 0.01  # away from the edges


def test_mu_law_round_trip_error_is_small() -> None:
    x = torch.linspace(-1.0, 1.0, 20001)
    codes = mu_law_encode(x)
    assert codes.dtype == torch.long and int(codes.min()) == 0 and int(codes.max()) == 255
    assert torch.all(codes[1:] >= codes[:-1])  # monotonic
    err = (mu_law_decode(codes) - x).abs()
    assert float(err.max()) < 0.025
    assert float(err[x.abs() < 0.01].max()) < 5e-4  # fine steps near zero


def test_mu_law_clamps_and_keeps_shape() -> None:
    codes = mu_law_encode(torch.tensor([[-3.0, 3.0], [0.0, 1.0]]))
    assert codes.shape == (2, 2)
    assert codes.tolist() == [[0, 255], [128, 255]]
    assert mu_law_encode(torch.tensor([0.5]), n_classes=16).item() < 16


@pytest.mark.parametrize("n_classes", [16, 256, 1024])
def test_silence_code(n_classes: int) -> None:
    code = silence_code(n_classes)
    assert code == n_classes // 2
    assert code == int(mu_law_encode(torch.zeros(1), n_classes))
    assert abs(float(mu_law_decode(torch.tensor([code]), n_classes))) < 0.02


def test_integrated_loudness_of_a_full_scale_sine_and_of_silence():
    """BS.1770: a 1 kHz sine at full scale reads -3.01 LUFS (the K-filter's gain at 1 kHz
    adds a few hundredths), not clamped low; silence is -inf, not NaN."""
    from wavegen.audio import integrated_loudness

    rate = 48000
    t = np.arange(5 * rate) / rate
    sine = np.sin(2 * np.pi * 1000 * t)
    assert integrated_loudness(sine, rate) == pytest.approx(-3.01, abs=0.05)
    assert integrated_loudness(0.1 * sine, rate) == pytest.approx(-23.01, abs=0.05)
    assert integrated_loudness(np.zeros(rate), rate) == float("-inf")
