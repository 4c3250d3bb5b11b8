"""Audio I/O, resampling and mu-law companding.

Waveforms are float32 in [-1, 1]. Mono arrays are ``(T,)``; batched tensors ``(B, T)``.
Mu-law codes are integers in ``[0, n_classes)``.
"""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from wavegen.errors import WavegenError
from wavegen.outputs import atomic_output, write_failure

# The first bytes a file of each suffix starts with. libsndfile reads some files whatever they
# hold (a text file named .au decodes as headerless mu-law), so the name and the header must
# agree before a file is decoded.
MAGIC = {".wav": (b"RIFF", b"RIFX", b"RF64"), ".au": (b".snd", b"dns."), ".snd": (b".snd", b"dns."),
         ".flac": (b"fLaC",), ".ogg": (b"OggS",), ".oga": (b"OggS",), ".opus": (b"OggS",),
         ".aif": (b"FORM",), ".aiff": (b"FORM",), ".aifc": (b"FORM",), ".w64": (b"riff",),
         ".caf": (b"caff",)}


MP3_SYNC_WINDOW = 4096  # bytes searched for an MPEG frame sync


def header_problem(path: str | os.PathLike[str]) -> str:
    """Why the file's first bytes do not match its suffix ("" if they do, or if unknown)."""
    suffix = os.path.splitext(str(path))[1].lower()
    with open(path, "rb") as fh:
        head = fh.read(MP3_SYNC_WINDOW if suffix == ".mp3" else 4)
    if suffix == ".mp3":
        # An ID3 tag, or an MPEG frame sync (11 set bits) within the first bytes: decoders skip
        # a little leading junk, so the sync need not be at byte 0.
        if head[:3] == b"ID3" or any(head[i] == 0xFF and head[i + 1] & 0xE0 == 0xE0
                                     for i in range(len(head) - 1)):
            return ""
        return "not an MP3 file: no ID3 tag and no MPEG frame in its first bytes"
    if suffix in MAGIC and not head.startswith(MAGIC[suffix]):
        return f"its header ({head!r}) is not that of a {suffix} file"
    return ""


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a sound file (wav, au, flac, mp3, ...) and mix it down to mono.

    Returns:
        ``(samples, sample_rate)`` with samples float32 of shape ``(T,)``.

    Raises:
        WavegenError: the file is missing, unreadable, empty, not audio, its header does not
            match its name, or it holds non-finite samples (NaN or Inf in a float file).
    """
    try:
        problem = header_problem(path)
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as err:
        raise WavegenError(f"cannot read audio file {path}: {err}") from err
    if problem:
        raise WavegenError(f"cannot read audio file {path}: {problem}")
    if data.shape[0] == 0:
        raise WavegenError(f"audio file {path} is empty (0 samples)")
    bad = int(data.size - np.isfinite(data).sum())
    if bad:
        raise WavegenError(f"audio file {path} holds {bad} non-finite samples (NaN or Inf); "
                           "it is damaged")
    return data.mean(axis=1).astype(np.float32), int(sr)


def resample(samples: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited resampling with torchaudio (windowed sinc). ``(T,) -> (T',)``."""
    if orig_sr == new_sr:
        return samples
    out = AF.resample(torch.from_numpy(np.ascontiguousarray(samples)), orig_sr, new_sr)
    return out.numpy()


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int) -> None:
    """Write mono float samples ``(T,)`` as 16-bit PCM WAV, atomically."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    with atomic_output(path, suffix=".wav") as tmp:
        try:
            sf.write(str(tmp), clipped, sample_rate, subtype="PCM_16", format="WAV")
        except (sf.LibsndfileError, RuntimeError) as err:  # a full disk shows up here
            raise write_failure(path, tmp, err) from err


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of a mono clip (T,) in LUFS (ITU-R BS.1770-4 with its gating);
    ``-inf`` for silence.

    Measured with pyloudnorm. ``torchaudio.functional.loudness`` agrees with it on quiet
    material but clamps the K-weighted signal to [-1, 1] (its ``lfilter`` default), so a
    full-scale 1 kHz sine reads -3.28 LUFS instead of BS.1770's -3.01 and loud clips read low.
    """
    import pyloudnorm

    value = pyloudnorm.Meter(sample_rate).integrated_loudness(
        np.asarray(samples, dtype=np.float64))
    return float(value) if np.isfinite(value) else float("-inf")


def mu_law_encode(x: torch.Tensor, n_classes: int = 256) -> torch.Tensor:
    """Float waveform in [-1, 1] (any shape) -> long codes in ``[0, n_classes)``."""
    return AF.mu_law_encoding(x.clamp(-1.0, 1.0), n_classes).long()


def mu_law_decode(codes: torch.Tensor, n_classes: int = 256) -> torch.Tensor:
    """Long codes (any shape) -> float waveform in [-1, 1]."""
    return AF.mu_law_decoding(codes, n_classes)


def silence_code(n_classes: int = 256) -> int:
    """The mu-law code of digital silence (the first input of every generation)."""
    return int(mu_law_encode(torch.zeros(1), n_classes).item())
