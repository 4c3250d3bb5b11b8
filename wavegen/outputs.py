"""The one rule for every file wavegen writes: checked target, temporary file, rename.

* A target that exists and is not a regular file (a directory, a character or block device
  such as ``/dev/null``, a FIFO, a socket, a symlink to one of these) is refused before anything
  is written: a rename would otherwise replace the device node or pipe with a file.
* The data goes to a hidden temporary file next to the target, is fsynced and renamed onto the
  target, so a reader never sees a partial file and a failed write leaves the old file intact.
* The temporary file is removed on every way out: an error, a full disk, Ctrl-C, and SIGTERM
  (the CLI turns SIGTERM into :class:`Terminated`, so ``finally`` blocks run).
* Operating-system failures (read-only folder, full disk, file too large) become one
  :class:`WavegenError` line naming the path and the cause.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wavegen.errors import WavegenError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"))


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (see ``wavegen.cli``).

    A ``BaseException`` like ``KeyboardInterrupt``: ``except Exception`` does not swallow it and
    every ``finally`` (temporary files, half-written folders) runs on the way out.
    """


def kind_of(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` names if it exists and is not a regular file, else None.

    Symlinks are followed; a dangling symlink is reported as such.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a dangling symlink" if os.path.islink(path) else None
    except OSError as err:
        raise WavegenError(f"cannot use {path} as output: {err.strerror}") from err
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """Refuse an output file name that cannot be (re)written safely; return it as a Path.

    Raises:
        WavegenError: the target exists and is not a regular file, or its folder is missing or
            not a folder.
    """
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise WavegenError(f"output {str(path)!r} names no file; give a file name")
    kind = kind_of(path)
    if kind is not None:
        raise WavegenError(f"output {path} exists and is {kind}, not a regular file; "
                           "name a new file (nothing was written)")
    parent = path.parent
    if not parent.is_dir():
        if parent.exists():
            raise WavegenError(f"output folder {parent} exists and is not a folder")
        raise WavegenError(
            f"output folder {parent} does not exist; create it first (mkdir -p {parent})")
    return path


def check_output_dir(path: str | os.PathLike[str], create: bool = True) -> Path:
    """Refuse an output folder that exists as something else; create it if asked.

    Raises:
        WavegenError: it exists and is not a folder, or cannot be created (the cause named).
    """
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise WavegenError(f"output folder {path} exists and is {kind_of(path) or 'a file'}; "
                           "name a folder (nothing was written)")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise WavegenError(f"cannot create output folder {path}: "
                               f"{err.strerror or err}") from err
    return path


@contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; fsync it and rename it onto ``path`` on success.

    ``suffix`` ends the temporary name (libraries that pick a format from the name need it).

    Raises:
        WavegenError: the target is refused (:func:`check_output_file`), or the write fails
            (full disk, read-only folder): the message names the path and the cause, and the
            temporary file is gone.
    """
    path = check_output_file(path)
    # Not mkstemp: its mode 0600 would survive the rename; touch honours the umask.
    tmp_path = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}.tmp"
    try:
        try:
            tmp_path.touch(exist_ok=False)
        except OSError as err:
            raise WavegenError(f"cannot write {path}: {err.strerror or err}") from err
        try:
            yield tmp_path
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
            check_output_file(path)  # it may have become a FIFO while we wrote
            os.replace(tmp_path, path)
        except OSError as err:
            raise WavegenError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_output_dir(path: str | os.PathLike[str], owned: frozenset[str]) -> Iterator[Path]:
    """Build a folder under a temporary name next to ``path``; swap it in on success.

    An existing ``path`` is replaced only if it is empty or holds nothing but names in
    ``owned`` (what this command writes there): a folder of the user's own files is refused,
    never deleted. The temporary folder is removed on every way out (errors, SIGTERM).

    Raises:
        WavegenError: ``path`` is not a folder, or holds files this command did not write.
    """
    path = Path(path)
    check_output_dir(path.parent)
    if os.path.lexists(path):
        check_output_dir(path, create=False)
        foreign = sorted(p.name for p in path.iterdir() if p.name not in owned)
        if foreign:
            raise WavegenError(f"output folder {path} holds files wavegen did not write there "
                               f"({', '.join(foreign[:3])}); name a new or empty folder")
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    old = path.parent / f".{path.name}.{secrets.token_hex(4)}.old"
    try:
        tmp.mkdir()
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except OSError as err:
        raise WavegenError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def write_failure(path: str | os.PathLike[str], tmp: str | os.PathLike[str],
                  err: BaseException) -> WavegenError:
    """A one-line error for a library's failed write into ``tmp`` (the temporary of ``path``).

    Audio libraries report a full disk as a bare "System error": one more byte appended to
    ``tmp`` brings back the operating system's own reason (no space left, file too large).
    """
    cause = str(err)
    try:
        with open(tmp, "ab") as fh:
            fh.write(b"\0")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as probe:
        cause = probe.strerror or cause
    return WavegenError(f"cannot write {path}: {cause}")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` under the rule above."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` (``\\n`` line ends) to ``path`` under the rule above."""
    write_bytes(path, text.encode("utf-8"))
