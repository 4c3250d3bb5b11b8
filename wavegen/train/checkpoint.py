"""Training checkpoints: atomic, self-describing, resumable, safe to load.

``<exp>/checkpoints/step-NNNNNNN.pt`` (the newest K) and ``best.pt`` (lowest validation NLL)
hold the model file fields (config, vocabulary, sample
rate, weights; see :mod:`wavegen.models.io`) plus the optimizer, scheduler, step and RNG states.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from wavegen.errors import WavegenError
from wavegen.models.io import atomic_torch_save, safe_torch_load

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "wavegen-checkpoint"
_NAME = re.compile(r"^step-(\d+)\.pt$")


def checkpoint_dir(exp_dir: str | os.PathLike[str]) -> Path:
    return Path(exp_dir) / "checkpoints"


def list_checkpoints(exp_dir: str | os.PathLike[str]) -> list[Path]:
    """Checkpoints of an experiment, oldest first."""
    folder = checkpoint_dir(exp_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(exp_dir: str | os.PathLike[str], step: int, payload: dict[str, Any],
                    keep: int = 3) -> Path:
    """Write ``step-<step>.pt`` atomically, then drop all but the newest ``keep``."""
    folder = checkpoint_dir(exp_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step-{step:07d}.pt"
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "version": 1, "step": step, **payload}, path)
    for old in list_checkpoints(exp_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def save_best(exp_dir: str | os.PathLike[str], step: int, valid_bits: float,
              payload: dict[str, Any]) -> Path:
    """Write ``best.pt``: the checkpoint with the lowest validation NLL so far (never rotated)."""
    folder = checkpoint_dir(exp_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "best.pt"
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "version": 1, "step": step,
                       "valid_bits": valid_bits, **payload}, path)
    return path


def load_latest(exp_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The newest readable checkpoint's dict, or None for a fresh experiment.

    A damaged newest checkpoint (truncated by a crash of the machine, say) is skipped with a
    warning naming it, and the previous one is used; it is left on disk for inspection.

    Raises:
        WavegenError: checkpoints exist but none of them can be read.
    """
    found = list_checkpoints(exp_dir)
    problems = []
    for path in reversed(found):
        try:
            ckpt = safe_torch_load(path, "checkpoint")
            if not {"step", "state_dict", "optimizer"} <= ckpt.keys():
                raise WavegenError(f"checkpoint {path} is not a wavegen training checkpoint")
        except WavegenError as err:
            problems.append(str(err))
            log.warning("%s; trying the previous checkpoint", err)
            continue
        if problems:
            log.warning("resuming from %s: the %d newer checkpoint(s) are damaged", path,
                        len(problems))
        return ckpt
    if problems:
        raise WavegenError(f"no readable checkpoint in {checkpoint_dir(exp_dir)}: "
                           f"{problems[0]}; move the folder aside to start afresh")
    return None
