"""User-facing errors.

A :class:`WavegenError` means the input was wrong, not the program: the CLI prints its
message on one line (no traceback) and exits with status 2. Messages say what was wrong
and what to do about it.
"""


class WavegenError(Exception):
    """Bad input from the user; the message tells them how to fix it."""
