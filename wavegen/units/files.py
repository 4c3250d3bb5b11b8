"""The rule for files the units commands read: a regular file, checked before it is opened.

Opening a FIFO for reading blocks until something writes to it, and a folder cannot be read as
a file; both are refused with one line before any read.
"""

from __future__ import annotations

import os
from pathlib import Path

from wavegen.errors import WavegenError
from wavegen.outputs import kind_of


def input_file(path: str | os.PathLike[str], what: str, hint: str) -> Path:
    """``path`` as a Path if it names an existing regular file (symlinks followed).

    Args:
        what: what the file should be, e.g. ``"tokenizer file"``.
        hint: what to do if it is missing, e.g. ``"fit one with wavegen units fit"``.

    Raises:
        WavegenError: the path is missing, or names a folder, FIFO, device or socket.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise WavegenError(f"{what} {path} not found; {hint}")
    kind = kind_of(path)
    if kind is not None:
        raise WavegenError(f"{what} {path} is {kind}, not a regular file; name a file")
    return path
