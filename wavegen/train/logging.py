"""Training logs: ``train_log.csv`` (always), TensorBoard scalars (``<exp>/tensorboard``) and
any experiment trackers named in ``train.log_with`` (W&B, MLflow, ... through accelerate).

Columns / scalars: step, loss_bits, valid_bits, lr, grad_norm, samples_per_s, skipped (steps
skipped so far for a non-finite loss or gradient).
"""

from __future__ import annotations

import csv
import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wavegen.errors import WavegenError
from wavegen.outputs import atomic_output

log = logging.getLogger(__name__)

COLUMNS = ["step", "loss_bits", "valid_bits", "lr", "grad_norm", "samples_per_s", "skipped"]


def truncate_log(path: Path, step: int) -> None:
    """Drop the rows of ``train_log.csv`` after ``step`` (they are redone on resume)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    kept = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
    if len(kept) == len(rows):
        return
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows(kept)


# accelerate's availability check per tracker, and the package to install for it.
_PIP = {"wandb": "wandb", "mlflow": "mlflow", "comet_ml": "comet-ml", "aim": "aim",
        "clearml": "clearml", "dvclive": "dvclive", "trackio": "trackio", "swanlab": "swanlab"}


def require_trackers(names: list[str]) -> None:
    """Fail before training when a tracker of ``train.log_with`` is not installed."""
    utils = importlib.import_module("accelerate.utils")
    missing = [n for n in names if not getattr(utils, f"is_{n}_available")()]
    if missing:
        raise WavegenError(
            f"train.log_with names {', '.join(missing)}, which is not installed here: "
            f"pip install {' '.join(_PIP[n] for n in missing)} (or remove it from the config)")


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> ``{"train.learning_rate": 0.002, ...}`` with scalar values (lists as
    text), which every tracker accepts as run parameters."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flat_config(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = (value if isinstance(value, (int, float, str, bool))
                                     else str(value))
    return out


class TrainLog:
    """Appends rows to the CSV log and mirrors them to TensorBoard and the trackers.

    ``tracker``: called with ``(scalars, step)`` for every row (``Accelerator.log``), the
    scalars named ``train/<column>`` as in TensorBoard."""

    def __init__(self, exp_dir: Path, resume_step: int, tensorboard: bool = True,
                 tracker: Callable[[dict[str, float], int], None] | None = None) -> None:
        self._tracker = tracker
        self.path = exp_dir / "train_log.csv"
        if resume_step > 0 and self.path.exists():
            truncate_log(self.path, resume_step)
        new = not self.path.exists()
        self._fh = open(self.path, "a", newline="")  # noqa: SIM115 (closed in close())
        self._csv = csv.DictWriter(self._fh, COLUMNS, extrasaction="ignore")
        if new:
            self._csv.writeheader()
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the optional extra
                log.warning("TensorBoard is not installed (pip install 'wavegen[tensorboard]'); "
                            "the log goes to %s only", self.path)
            else:
                self._tb = SummaryWriter(str(exp_dir / "tensorboard"),
                                         purge_step=resume_step + 1)

    def write(self, row: dict[str, float | int | None]) -> None:
        """One log row; ``None`` values are left empty (CSV) or skipped (TensorBoard)."""
        self._csv.writerow({k: ("" if v is None else _fmt(v)) for k, v in row.items()})
        self._fh.flush()
        scalars = {f"train/{k}": float(v) for k, v in row.items()
                   if k != "step" and v is not None}
        if self._tb is not None:
            for key, value in scalars.items():
                self._tb.add_scalar(key, value, int(row["step"]))  # type: ignore[arg-type]
        if self._tracker is not None:
            self._tracker(scalars, int(row["step"]))  # type: ignore[arg-type]

    def close(self) -> None:
        self._fh.close()
        if self._tb is not None:
            self._tb.close()


def _fmt(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e-2 or abs(value) >= 1e5 else f"{value:.4f}"
