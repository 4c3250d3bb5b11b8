"""Training logs: ``train_log.csv`` (always) and TensorBoard scalars (``<exp>/tensorboard``).

Columns / scalars: step, loss_bits, valid_bits, lr, grad_norm, samples_per_s, skipped (steps
skipped so far for a non-finite loss or gradient).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

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


class TrainLog:
    """Appends rows to the CSV log and mirrors them to TensorBoard."""

    def __init__(self, exp_dir: Path, resume_step: int, tensorboard: bool = True) -> None:
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
        if self._tb is not None:
            for key, value in row.items():
                if key != "step" and value is not None:
                    self._tb.add_scalar(f"train/{key}", float(value), int(row["step"]))

    def close(self) -> None:
        self._fh.close()
        if self._tb is not None:
            self._tb.close()


def _fmt(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e-2 or abs(value) >= 1e5 else f"{value:.4f}"
