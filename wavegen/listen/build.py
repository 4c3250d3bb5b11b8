"""``wavegen listen build``: turn folders of clips into a blind listening test.

Matching clips are picked per genre from every system (and the reference), resampled to one rate
the MUSHRA anchors support, trimmed to one length, loudness-matched (ITU-R BS.1770) and written
under random keys with a frozen copy of the test page. Only the private manifest links a key to
its system, genre and source file.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wavegen.audio import read_audio, resample, write_wav
from wavegen.errors import WavegenError
from wavegen.listen import dsp
from wavegen.listen.layout import (
    ANCHOR35,
    ANCHOR70,
    MANIFEST,
    PAGE,
    PUBLIC,
    REFERENCE,
    RESERVED,
    STIMULI,
    SYSTEM_RE,
    TEST_TYPES,
    WEBMUSHRA,
    page_files,
    write_json,
)
from wavegen.listen.sources import find_clips
from wavegen.listen.store import count_answers
from wavegen.progress import progress

log = logging.getLogger(__name__)

MUSHRA_MAX_SECONDS = 12.0
MUSHRA_MAX_CONDITIONS = 12  # hidden reference and both anchors included

INSTRUCTIONS = {
    "mushra": "Listen to the reference, then rate every sample against it from 0 (bad) to "
              "100 (excellent). One sample is the hidden reference: rate it 100 when you find "
              "it. Play every sample before you submit.",
    "mos": "Rate the overall quality of each clip: 1 bad, 2 poor, 3 fair, 4 good, 5 excellent.",
    "ab": "Play both clips, then choose the one you prefer.",
    "genre-id": "Play the clip, then choose the genre you hear.",
}


class _Keys:
    """Unique random 12-hex-digit keys; seeded for reproducible builds, else from the OS."""

    def __init__(self, seed: int | None) -> None:
        self.rng: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()
        self.used: set[str] = set()

    def new(self) -> str:
        while True:
            key = f"{self.rng.getrandbits(48):012x}"
            if key not in self.used:
                self.used.add(key)
                return key


def _check_request(test_type: str, systems: Mapping[str, Any], ref: Any) -> None:
    if test_type not in TEST_TYPES:
        raise WavegenError(f"unknown test type '{test_type}'; known: {', '.join(TEST_TYPES)}")
    if not systems:
        raise WavegenError("no systems given; pass --systems NAME=DIR ...")
    for name in systems:
        if not SYSTEM_RE.fullmatch(name) or name in RESERVED:
            raise WavegenError(f"bad system name '{name}': use letters, digits, '_', '.', '-', "
                               f"and none of {', '.join(RESERVED)}")
    if test_type == "mushra":
        if ref is None:
            raise WavegenError("a MUSHRA test needs a reference: pass --ref DIR")
        if len(systems) + 3 > MUSHRA_MAX_CONDITIONS:
            raise WavegenError(f"a MUSHRA trial holds at most {MUSHRA_MAX_CONDITIONS} "
                               f"conditions (hidden reference and two anchors included); pass "
                               f"at most {MUSHRA_MAX_CONDITIONS - 3} systems")
    if test_type == "ab" and len(systems) + (ref is not None) != 2:
        raise WavegenError("an A/B test compares exactly two conditions: pass two systems, or "
                           "one system and --ref")


def _select(sources: Mapping[str, dict[str, list[Path]]], genres: Sequence[str] | None,
            items_per_genre: int | None, rng: random.Random) -> dict[str, dict[str, list[Path]]]:
    """``{genre: {source: [path] * n}}`` with the same count ``n`` for every source of a genre."""
    common = set.intersection(*(set(clips) for clips in sources.values()))
    if genres:
        unknown = sorted(set(genres) - common)
        if unknown:
            raise WavegenError(f"genre(s) {', '.join(unknown)} not found in every source; "
                               f"common genres: {', '.join(sorted(common)) or 'none'}")
        common = set(genres)
    if not common:
        found = "; ".join(f"{name}: {', '.join(sorted(c))}" for name, c in sources.items())
        raise WavegenError(f"no genre is present in every source ({found})")
    picked: dict[str, dict[str, list[Path]]] = {}
    for genre in sorted(common):
        n = min(len(clips[genre]) for clips in sources.values())
        if items_per_genre is not None:
            n = min(n, items_per_genre)
        picked[genre] = {name: sorted(rng.sample(clips[genre], n))
                         for name, clips in sources.items()}
    return picked


def _prepare_out(out: Path, force: bool) -> Path | None:
    """Check ``out``; return where an earlier test must be moved, if anywhere."""
    if not out.parent.is_dir():
        raise WavegenError(f"output directory {out.parent} does not exist; create it first")
    if not out.exists():
        return None
    if not out.is_dir():
        raise WavegenError(f"{out} exists and is not a folder; choose another --out")
    answers = count_answers(out)
    if answers and not force:
        raise WavegenError(f"{out} already holds a test with {answers} answers; choose another "
                           f"--out, or pass --force to move it aside and build a new one")
    if answers:
        return out.with_name(f"{out.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    if any(out.iterdir()) and not (out / PUBLIC).is_file():
        raise WavegenError(f"{out} exists and is not a listening test; choose another --out")
    return out.with_name(f".{out.name}.replaced")


def build_test(
    test_type: str,
    systems: Mapping[str, str | os.PathLike[str]],
    out: str | os.PathLike[str],
    ref: str | os.PathLike[str] | None = None,
    *,
    max_seconds: float | None = None,
    items_per_genre: int | None = None,
    genres: Sequence[str] | None = None,
    sample_rate: int | None = None,
    loudness: float = -23.0,
    seed: int | None = None,
    force: bool = False,
) -> Path:
    """Build a listening test folder (layout in :mod:`wavegen.listen.layout`).

    Args:
        test_type: ``mushra``, ``mos``, ``ab`` or ``genre-id``.
        systems: system name -> folder of ``<genre>_<k>.wav`` (or a Kaldi data dir).
        out: the test folder to create; written elsewhere and renamed into place when complete.
        ref: reference clips (folder or Kaldi data dir); required for MUSHRA, optional otherwise
            (then it is one more condition, named ``reference``).
        max_seconds: cap on the common clip length (MUSHRA: at most 12 s).
        items_per_genre: cap on the trials per genre (default: as many as every source has).
        genres: restrict to these genres (default: those present in every source).
        sample_rate: stimulus rate (default: the lowest anchor-capable rate >= every input).
        loudness: target integrated loudness in LUFS (lowered if a clip would clip).
        seed: makes selection and keys reproducible (default: keys from the OS).
        force: move an existing test that holds answers aside instead of refusing.

    Returns:
        The test folder.
    """
    _check_request(test_type, systems, ref)
    out = Path(out)
    if max_seconds is not None and max_seconds <= 0:
        raise WavegenError(f"--max-seconds must be positive, got {max_seconds}")
    if test_type == "mushra":
        if max_seconds is not None and max_seconds > MUSHRA_MAX_SECONDS:
            raise WavegenError(f"MUSHRA stimuli are at most {MUSHRA_MAX_SECONDS:g} s long; "
                               f"lower --max-seconds")
        max_seconds = max_seconds or MUSHRA_MAX_SECONDS
    if items_per_genre is not None and items_per_genre < 1:
        raise WavegenError(f"--items-per-genre must be at least 1, got {items_per_genre}")
    aside = _prepare_out(out, force)

    keys = _Keys(seed)
    sources = {name: find_clips(folder) for name, folder in systems.items()}
    if ref is not None:
        sources[REFERENCE] = find_clips(ref)
    picked = _select(sources, genres, items_per_genre, keys.rng)

    audio: dict[Path, tuple[np.ndarray, int]] = {}
    paths = [p for by_source in picked.values() for ps in by_source.values() for p in ps]
    for path in progress(paths, desc="read clips", unit="clip"):
        audio.setdefault(path, read_audio(path))
    rate = dsp.choose_rate([sr for _, sr in audio.values()], sample_rate)
    signals = {p: resample(x, sr, rate) for p, (x, sr) in audio.items()}
    n = min(len(x) for x in signals.values())
    if max_seconds is not None:
        n = min(n, int(round(max_seconds * rate)))
    if n < dsp.MIN_SECONDS * rate:
        raise WavegenError(f"the shortest clip is {n / rate:.2f} s; listening tests need clips of "
                           f"at least {dsp.MIN_SECONDS} s")
    signals = {p: dsp.trim(x, n, rate) for p, x in signals.items()}
    gains, reached = dsp.loudness_gains(list(signals.values()), rate, loudness)
    signals = {p: x * g for (p, x), g in zip(signals.items(), gains, strict=True)}

    trials, entries, files = _make_trials(test_type, picked, signals, rate, keys)
    public = {"type": test_type, "title": f"Listening test ({test_type})",
              "instructions": INSTRUCTIONS[test_type], "sample_rate": rate, "seconds": n / rate,
              "trials": [t["public"] for t in trials]}
    if test_type == "genre-id":
        public["options"] = sorted(picked)
    manifest = {"type": test_type, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "sample_rate": rate, "seconds": n / rate, "loudness_lufs": round(reached, 2),
                "systems": {k: str(v) for k, v in systems.items()},
                "reference": None if ref is None else str(ref), "genres": sorted(picked),
                "trials": {t["public"]["id"]: t["private"] for t in trials}, "keys": entries}

    tmp = out.with_name(f".{out.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / STIMULI).mkdir(parents=True)
        for key, samples in files.items():
            write_wav(tmp / STIMULI / f"{key}.wav", samples, rate)
        write_json(tmp / PUBLIC, public)
        (tmp / PAGE).mkdir()
        for name, data in page_files().items():
            (tmp / PAGE / name).write_bytes(data)
        write_json(tmp / MANIFEST, manifest)
        if test_type == "mushra":
            from wavegen.listen.webmushra import write_config

            write_config(public, manifest, tmp / WEBMUSHRA, test_id=out.name)
        if aside is not None:
            os.replace(out, aside)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if aside is not None:
        if aside.name.startswith("."):
            shutil.rmtree(aside, ignore_errors=True)
        else:
            log.warning("moved the earlier test and its answers to %s", aside)
    log.info("%s test: %d trials, %d stimuli, %.2f s at %d Hz, %.1f LUFS -> %s", test_type,
             len(trials), len(files), n / rate, rate, reached, out)
    return out


def _make_trials(test_type: str, picked: Mapping[str, Mapping[str, list[Path]]],
                 signals: Mapping[Path, np.ndarray], rate: int, keys: _Keys
                 ) -> tuple[list[dict], dict[str, dict], dict[str, np.ndarray]]:
    """Trials (public and private halves), manifest entries and stimulus files by key."""
    trials: list[dict] = []
    entries: dict[str, dict] = {}
    files: dict[str, np.ndarray] = {}

    def add(trial: str, system: str, genre: str, source: Path | None, samples: np.ndarray,
            role: str = "stimulus") -> str:
        key = keys.new()
        entries[key] = {"system": system, "genre": genre, "trial": trial, "role": role,
                        "source": None if source is None else str(source)}
        files[key] = samples
        return key

    for genre, by_source in picked.items():
        names = [s for s in by_source if s != REFERENCE]
        for item in range(len(next(iter(by_source.values())))):
            clip = {s: by_source[s][item] for s in by_source}
            if test_type == "mushra":
                trial = keys.new()
                ref_path = clip[REFERENCE]
                ref = signals[ref_path]
                shown = add(trial, REFERENCE, genre, ref_path, ref, role="reference")
                stimuli = [add(trial, s, genre, clip[s], signals[clip[s]]) for s in names]
                stimuli.append(add(trial, REFERENCE, genre, ref_path, ref))
                stimuli.append(add(trial, ANCHOR35, genre, ref_path, dsp.lowpass(ref, rate, 3500)))
                stimuli.append(add(trial, ANCHOR70, genre, ref_path, dsp.lowpass(ref, rate, 7000)))
                keys.rng.shuffle(stimuli)
                trials.append({"public": {"id": trial, "reference": shown, "stimuli": stimuli},
                               "private": {"genre": genre, "item": item}})
            elif test_type == "ab":
                trial = keys.new()
                pair = [add(trial, s, genre, clip[s], signals[clip[s]]) for s in by_source]
                keys.rng.shuffle(pair)
                trials.append({"public": {"id": trial, "stimuli": pair},
                               "private": {"genre": genre, "item": item}})
            else:  # one stimulus per trial: mos, genre-id
                for s in by_source:
                    trial = keys.new()
                    key = add(trial, s, genre, clip[s], signals[clip[s]])
                    trials.append({"public": {"id": trial, "stimuli": [key]},
                                   "private": {"genre": genre, "item": item}})
    keys.rng.shuffle(trials)
    return trials, entries, files
