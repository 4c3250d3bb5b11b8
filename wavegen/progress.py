"""Progress bars for every long step: tqdm on a terminal, one line per update in log files.

On a terminal tqdm redraws one line in place. Written to a file (a recipe's log, a batch job's
output) those redraws are carriage returns that pile up into one unreadable line, so there the
bar is printed as whole lines, at most one every ``LOG_INTERVAL_S`` seconds (plus the first and
the last), each with the count, rate and time left.
"""

from __future__ import annotations

import io
import sys
from typing import Any, TextIO

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


class LineStream(io.TextIOBase):
    """A text stream for tqdm that turns its carriage-return redraws into whole lines."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        for line in text.replace("\r", "\n").split("\n"):
            if line.strip():
                self.stream.write(line.rstrip() + "\n")
        self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def progress(iterable: Any = None, *, file: TextIO | None = None, **kwargs: Any) -> tqdm:
    """A tqdm bar on ``file`` (default stderr): in place on a terminal, line by line into a
    file or pipe. Takes tqdm's arguments (``total``, ``desc``, ``unit``, ``disable``, ...)."""
    stream = file if file is not None else sys.stderr
    if _is_terminal(stream):
        kwargs.setdefault("dynamic_ncols", True)
        return tqdm(iterable, file=stream, **kwargs)
    kwargs.pop("dynamic_ncols", None)
    kwargs.setdefault("mininterval", LOG_INTERVAL_S)
    kwargs.setdefault("ncols", 100)
    return tqdm(iterable, file=LineStream(stream), **kwargs)
