"""Graceful stop on SIGTERM/SIGINT: finish the current step, checkpoint, exit.

Clusters preempt jobs with SIGTERM (Slurm sends it before SIGKILL). While training runs, the
first SIGTERM or SIGINT only sets a flag that the training loop checks after every optimizer
step; a second SIGINT interrupts at once (the previous checkpoint stays intact).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """Context manager installing the handlers; ``signum`` is set once a stop was asked for."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
