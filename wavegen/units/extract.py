"""Applications of a fitted tokenizer: the unit tables of a dump, and the plan of one clip."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from wavegen.audio import read_audio, resample
from wavegen.errors import WavegenError
from wavegen.progress import progress
from wavegen.units.files import input_file
from wavegen.units.plan import Plan, make_plan, write_plan
from wavegen.units.store import UNITS_DIR, UnitStore, n_frames_for, write_unit_store
from wavegen.units.tokenizer import Tokenizer, dump_audio

log = logging.getLogger(__name__)


def extract_units(dump_dir: str | os.PathLike[str], tokenizer: str | os.PathLike[str],
                  hop: int | None = None) -> int:
    """Write ``DUMP/SET/units``: the unit ids of every utterance of the dump ``dump_dir``.

    Args:
        tokenizer: ``tokenizer.pt`` fitted at the dump's rate.
        hop: if given, the hop the caller expects the tokenizer to have.

    Returns:
        Total number of frames written.

    Raises:
        WavegenError: not a dump, a damaged tokenizer, or one at another rate or hop.
    """
    from wavegen.data.dump import DumpStore

    store = DumpStore(dump_dir)
    tok = Tokenizer.load(tokenizer)
    tok.check(store.sample_rate, hop, what=f"the dump {dump_dir}")
    lengths = {utt: store.index[utt][1] for utt in store.utts}

    def tables() -> Iterator[tuple[str, np.ndarray]]:
        for utt in progress(store.utts, desc=f"units {Path(dump_dir).name}", unit="utt"):
            ids = tok.encode(dump_audio(store.audio(utt)), what=f"utterance {utt}")
            if ids.size != n_frames_for(lengths[utt], tok.hop):  # the features' contract
                raise WavegenError(f"utterance {utt}: {ids.size} unit frames for "
                                   f"{lengths[utt]} samples at hop {tok.hop}")
            yield utt, ids

    out = Path(dump_dir) / UNITS_DIR
    total = write_unit_store(out, tables(), tok.hop, tok.sample_rate, tok.n_units,
                             tok.identity())
    UnitStore(out).check_aligned(lengths, store.sample_rate)
    log.info("wrote %d frames of units (%d utterances, %g Hz) to %s", total, len(lengths),
             tok.sample_rate / tok.hop, out)
    return total


def clip_plan(audio_path: str | os.PathLike[str], tokenizer: str | os.PathLike[str],
              out: str | os.PathLike[str] | None = None) -> Plan:
    """The plan of one audio file: its units at the tokenizer's rate.

    Any rate and channel count: the clip is mixed down to mono and resampled to the
    tokenizer's rate first (:mod:`wavegen.audio`).

    Args:
        out: if given, the plan file to write (atomically).

    Raises:
        WavegenError: the file is missing, not a regular file, not audio, empty or damaged.
    """
    tok = Tokenizer.load(tokenizer)
    path = input_file(audio_path, "audio file", "name an audio file to plan")
    samples, rate = read_audio(path)  # (N,) mono
    samples = resample(samples, rate, tok.sample_rate)
    if samples.size == 0:
        raise WavegenError(f"audio file {path} is too short to hold one sample at "
                           f"{tok.sample_rate} Hz")
    plan = make_plan(tok.encode(samples, what=f"audio file {path}"), tok.identity())
    if out is not None:
        write_plan(out, plan)
    return plan
