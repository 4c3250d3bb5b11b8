"""Audio checks of a data dir: every listed file is decoded once; bad ones are dropped.

Data preparation first lists a corpus (``wav.scp`` and the label tables), then
:func:`check_data_dir` decodes each file, writes ``utt2dur`` for the good ones and removes the
others from every table, naming them in ``bad_files`` with one warning each. The check runs on a
whole data dir or, for parallel jobs, on each part of a split (:mod:`wavegen.data.split`).

A file is bad when it is missing, empty, not audio, its header does not match its name (a text
file named ``.au`` would otherwise decode as headerless mu-law), has the wrong number of
channels, fails to decode part way, or is truncated: its header promises more data than the
file holds (WAV, AU and other PCM containers) or fewer frames decode than it announces (MP3).
Content that cannot be music is bad too: non-finite samples (NaN or Inf in a float file), a peak
far beyond full scale, and a constant signal (digital silence or DC) from start to end.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from wavegen.audio import header_problem
from wavegen.data.kaldi import read_table, write_speakers, write_table
from wavegen.errors import WavegenError
from wavegen.progress import progress

log = logging.getLogger(__name__)

BLOCK = 1 << 16  # frames decoded at a time
MP3_TOLERANCE = 0.99  # an MP3 may decode slightly fewer frames than its header announces
MAX_PEAK = 16.0  # float files may exceed full scale a little; 24 dB beyond it is not audio
# libsndfile logs "data : <declared> (should be <actual>)" for a too-short PCM container.
_SHORT_DATA = re.compile(r"(?:^|\n)\s*(?:data|Data Size)\s*:\s*(\d+) \(should be (\d+)\)")
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # streamed files that do not declare their size


def check_audio(path: str | os.PathLike[str], channels: int = 1) -> tuple[float | None, str]:
    """Decode a sound file completely.

    Args:
        path: the file.
        channels: required channel count; 0 accepts any.

    Returns:
        ``(duration in seconds, "")`` for good audio, else ``(None, what is wrong)``.
    """
    path = Path(path)
    if not path.is_file():
        return None, "no such file"
    if path.stat().st_size == 0:
        return None, "empty file (0 bytes)"
    try:
        problem = header_problem(path)
        if problem:
            return None, problem
        info = sf.info(str(path))
        if channels and info.channels != channels:
            return None, f"{info.channels} channels, expected {channels}"
        match = _SHORT_DATA.search(info.extra_info)
        if match and int(match[1]) not in _UNKNOWN_SIZES and int(match[1]) > int(match[2]):
            return None, f"truncated: header declares {match[1]} data bytes, file has {match[2]}"
        decoded, non_finite, low, high = 0, 0, np.inf, -np.inf
        with sf.SoundFile(str(path)) as fh:
            # float32, not int16: a cast to integers would turn NaN into silence.
            while len(block := fh.read(BLOCK, dtype="float32")):  # not blocks(): it pads
                decoded += len(block)
                finite = np.isfinite(block)
                non_finite += int(block.size - finite.sum())
                if finite.any():
                    low, high = min(low, block[finite].min()), max(high, block[finite].max())
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as err:
        return None, f"not readable audio ({err})"
    if decoded == 0 or info.samplerate <= 0:
        return None, "no audio frames"
    if info.format == "MP3" and decoded < MP3_TOLERANCE * info.frames:
        return None, f"truncated: {decoded} of {info.frames} frames decode"
    if non_finite:
        return None, f"{non_finite} non-finite samples (NaN or Inf)"
    if max(abs(low), abs(high)) > MAX_PEAK:
        return None, f"implausible level: peak {max(abs(low), abs(high)):.3g} (full scale is 1)"
    if high == low:
        return None, ("digital silence throughout" if high == 0
                      else f"constant signal (DC at {high:.3g}) throughout")
    return decoded / info.samplerate, ""


def table_files(data_dir: Path) -> list[Path]:
    """The per-utterance tables of a data dir (``wav.scp``, ``utt2*``), without ``spk2utt``."""
    return sorted(f for f in data_dir.iterdir()
                  if f.is_file() and (f.name == "wav.scp" or f.name.startswith("utt2")))


def append_bad_files(data_dir: Path, entries: list[str]) -> None:
    """Add lines to ``data_dir/bad_files`` (created, possibly empty)."""
    with open(data_dir / "bad_files", "a", encoding="utf-8") as fh:
        fh.writelines(f"{e}\n" for e in entries)


def check_data_dir(data_dir: str | os.PathLike[str], channels: int = 1) -> int:
    """Decode every file of ``wav.scp``; keep the good ones, list the bad ones.

    Writes ``utt2dur``, removes bad utterances from every table (rewriting ``utt2spk`` and
    ``spk2utt``) and appends their paths to ``bad_files``, warning once per file.

    Args:
        data_dir: a listed data dir (``wav.scp`` and label tables).
        channels: required channel count; 0 accepts any.

    Returns:
        The number of utterances kept.
    """
    data_dir = Path(data_dir)
    wav_scp = read_table(data_dir / "wav.scp")
    utt2dur, bad = {}, []
    for utt, wav in progress(wav_scp.items(), total=len(wav_scp), desc=f"check {data_dir.name}",
                             unit="file"):
        if wav.endswith("|"):
            raise WavegenError(f"{data_dir}/wav.scp: '{utt}' is a command pipe, which wavegen "
                               "does not run; convert the audio to files first")
        dur, problem = check_audio(wav, channels)
        if dur is None:
            log.warning("skipping %s: %s", wav, problem)
            bad.append(wav)
        else:
            utt2dur[utt] = f"{dur:.3f}"
    bad_utts = {u for u, w in wav_scp.items() if w in bad}
    for f in table_files(data_dir):
        if f.name != "utt2dur":
            table = read_table(f)
            write_table(f, {u: v for u, v in table.items() if u not in bad_utts})
    write_table(data_dir / "utt2dur", utt2dur)
    write_speakers(data_dir, list(utt2dur))
    append_bad_files(data_dir, bad)
    log.info("%s: %d files readable, %d bad", data_dir, len(utt2dur), len(bad))
    return len(utt2dur)


__all__ = ["append_bad_files", "check_audio", "check_data_dir", "table_files"]
