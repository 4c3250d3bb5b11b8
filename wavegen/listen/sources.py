"""Where the clips of a test come from: a folder of ``<genre>_<k>.wav`` or a Kaldi data dir.

``wavegen synth --genre all --out-dir DIR`` writes ``DIR/<genre>_<k>.wav`` (e.g. ``rock_000.wav``);
a Kaldi data dir has ``wav.scp`` and ``utt2genre``. Both become ``{genre: [path, ...]}``.
"""

from __future__ import annotations

import os
from pathlib import Path

from wavegen.clipnames import parse_clip_name
from wavegen.data.kaldi import read_table
from wavegen.errors import WavegenError


def _from_kaldi(data_dir: Path) -> dict[str, list[Path]]:
    wav_scp = read_table(data_dir / "wav.scp")
    utt2genre = read_table(data_dir / "utt2genre")
    clips: dict[str, list[Path]] = {}
    for utt, genre in utt2genre.items():
        if utt not in wav_scp:
            raise WavegenError(f"{data_dir}/utt2genre names '{utt}', which wav.scp lacks; "
                               f"fix the data dir (utils/validate_data_dir.sh)")
        value = wav_scp[utt]
        if value.endswith("|"):
            raise WavegenError(f"{data_dir}/wav.scp: '{utt}' is a command pipe; listening "
                               f"tests need plain audio paths")
        path = Path(value)
        if not path.is_absolute() and not path.exists():
            path = data_dir / path  # relative to the data dir rather than the working dir
        clips.setdefault(genre, []).append(path)
    return clips


def _from_folder(folder: Path) -> dict[str, list[Path]]:
    clips: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.wav")):
        label = parse_clip_name(path.name)
        if label:
            clips.setdefault(label, []).append(path)
    return clips


def find_clips(source: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """Clips by genre, each list sorted by path.

    Args:
        source: a folder of ``<genre>_<k>.wav`` files or a Kaldi data dir with ``wav.scp`` and
            ``utt2genre``.

    Raises:
        WavegenError: the folder is missing or holds no usable clips, or a listed file is missing.
    """
    folder = Path(source)
    if not folder.is_dir():
        raise WavegenError(f"clip folder {folder} does not exist; synthesize clips first "
                           f"(wavegen synth --genre all --out-dir {folder})")
    if (folder / "wav.scp").is_file():
        if not (folder / "utt2genre").is_file():
            raise WavegenError(f"data dir {folder} has no utt2genre; listening tests match "
                               f"clips by genre")
        clips = _from_kaldi(folder)
    else:
        clips = _from_folder(folder)
    if not clips:
        raise WavegenError(f"{folder} holds no clips named <genre>_<k>.wav and is not a Kaldi "
                           f"data dir (wav.scp + utt2genre)")
    for genre, paths in clips.items():
        paths.sort()
        for path in paths:
            if not path.is_file():
                raise WavegenError(f"clip {path} (genre {genre}, listed in {folder}) is missing")
    return clips
