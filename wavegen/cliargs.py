"""Validated argument types for the command line: each rule is checked once, where flags parse.

* :class:`Number`: an int or float in a documented range. ``inf``, ``nan``, out-of-range and
  non-numeric text are refused with the accepted range in the message; :func:`number` also
  writes the range into the flag's ``--help``.
* :func:`output_file` / :func:`output_dir`: a target that exists as something else (a device,
  a FIFO, a directory where a file is wanted, a file where a folder is wanted) is refused
  before any work starts (the rule itself lives in :mod:`wavegen.outputs`).
* :class:`Parser`: parse errors are one line, ``wavegen CMD: error: ...``, exit status 2.

Only argparse and the standard library are imported here: ``wavegen --help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, NoReturn

from wavegen.errors import WavegenError
from wavegen.outputs import check_output_dir, kind_of

SEED_MAX = 2**32 - 1  # numpy's and torch's seed range


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


class Number:
    """An argparse ``type``: int or float within ``[lo, hi]`` (either end may be open or absent).

    Args:
        kind: ``int`` or ``float``.
        lo, hi: bounds; ``None`` for none.
        lo_open, hi_open: exclude the bound itself.
    """

    def __init__(self, kind: type, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, hi_open: bool = False) -> None:
        self.kind, self.lo, self.hi, self.lo_open, self.hi_open = kind, lo, hi, lo_open, hi_open
        self.__name__ = "integer" if kind is int else "number"  # argparse quotes it

    @property
    def range_text(self) -> str:
        """The accepted range in interval notation, e.g. ``(0, 3600]``."""
        if self.lo is not None and self.hi is not None:
            return (f"{'(' if self.lo_open else '['}{_fmt(self.lo)}, {_fmt(self.hi)}"
                    f"{')' if self.hi_open else ']'}")
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {_fmt(self.hi)}"
        return "any finite value"

    def __call__(self, text: str) -> Any:
        what = "an integer" if self.kind is int else "a number"
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {what}; give {what} in {self.range_text}") from None
        if self.kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not finite; give a number in {self.range_text}")
        low = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        high = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if low or high:
            raise argparse.ArgumentTypeError(f"{text} is out of range; accepted: {self.range_text}")
        return value


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def number(parser: argparse.ArgumentParser, flag: str, kind: type, lo: float | None = None,
           hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False,
           help: str, **kw: Any) -> argparse.Action:
    """``parser.add_argument(flag, type=Number(...))`` with the range appended to the help."""
    rule = Number(kind, lo, hi, lo_open, hi_open)
    return parser.add_argument(flag, type=rule, help=f"{help}; range {rule.range_text}", **kw)


def seed(parser: argparse.ArgumentParser, flag: str = "--seed", *, help: str,
         **kw: Any) -> argparse.Action:
    """A random-seed flag: an integer in ``[0, 2**32 - 1]``."""
    return number(parser, flag, int, 0, SEED_MAX, help=help, **kw)


MAX_GUIDANCE = 20.0  # well past the useful range (docs/default_model.md: 8 is the default)


def sampling_flags(parser: argparse.ArgumentParser, guidance_help: str,
                   defaults: str = "the model's, else 1") -> None:
    """``--temperature``, ``--top-p`` and ``--guidance`` with their ranges, None by default
    (the model file's settings)."""
    number(parser, "--temperature", float, 0.0, 10.0, lo_open=True, default=None,
           help=f"softmax temperature (default: {defaults})")
    number(parser, "--top-p", float, 0.0, 1.0, lo_open=True, default=None,
           help=f"nucleus sampling mass (default: {defaults})")
    number(parser, "--guidance", float, 0.0, MAX_GUIDANCE, default=None,
           help=f"{guidance_help} (default: {defaults})")


def output_file(text: str) -> str:
    """argparse ``type`` of a file to write: refuse a name that exists and is not a file."""
    if not text:
        raise argparse.ArgumentTypeError("empty file name")
    try:
        kind = kind_of(text)
    except WavegenError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if kind is not None:
        raise argparse.ArgumentTypeError(
            f"{text} exists and is {kind}, not a regular file; name a new file")
    return text


def output_dir(text: str) -> str:
    """argparse ``type`` of a folder to write into: refuse a name that exists as a non-folder."""
    if not text:
        raise argparse.ArgumentTypeError("empty folder name")
    try:
        check_output_dir(text, create=False)
    except WavegenError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text
