"""The output rule (wavegen/outputs.py): special targets refused, nothing partial left behind,
operating-system failures as one line. Real devices, FIFOs, signals and file-size limits."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wavegen.errors import WavegenError
from wavegen.outputs import atomic_output, check_output_dir, check_output_file, write_text


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_output_replaces_a_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    write_text(target, "new")
    assert target.read_text() == "new" and _leftovers(tmp_path) == []


def test_an_error_inside_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


@pytest.mark.parametrize("make", ["fifo", "dir", "devnull", "dangling", "loop"])
def test_special_targets_are_refused_and_kept(tmp_path, make):
    target = tmp_path / "t"
    if make == "fifo":
        os.mkfifo(target)
    elif make == "dir":
        target.mkdir()
    elif make == "devnull":
        target = Path(os.devnull)
    elif make == "dangling":
        target.symlink_to(tmp_path / "nowhere")
    else:
        target.symlink_to(target)
    with pytest.raises(WavegenError, match="not a regular file|cannot use"):
        with atomic_output(target) as tmp:
            tmp.write_text("x")
    assert os.path.lexists(target) and _leftovers(tmp_path) == []
    assert Path(os.devnull).is_char_device()


@pytest.mark.parametrize("name", ["", ".", "..", "missing/x.wav", "file/x.wav"])
def test_bad_file_names(tmp_path, name):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WavegenError):
        check_output_file(tmp_path / name if name else Path(name))


def test_output_dir_is_made_or_refused(tmp_path):
    assert check_output_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "f").write_text("keep")
    with pytest.raises(WavegenError, match="exists and is"):
        check_output_dir(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "keep"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(WavegenError, match="cannot write .*Permission denied"):
            write_text(folder / "x.txt", "x")
    finally:
        folder.chmod(0o755)


def _wavegen(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wavegen", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("args", [
    ["synth", "--genre", "rock", "--duration", "2", "--seed", "0", "--out", "OUT/x.wav"],
    ["toy-corpus", "OUT/corpus", "--clips-per-genre", "1", "--duration", "2"],
])
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, args):
    """The kernel's file-size limit (RLIMIT_FSIZE) fails writes past 8 KiB as a full disk does."""
    args = [a.replace("OUT", str(tmp_path)) for a in args]
    proc = _wavegen(args, preexec_fn=_limit_file_size(8192))
    _, err = proc.communicate(timeout=300)
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert proc.returncode == 2, err
    assert len(lines) == 1 and "Traceback" not in err and "File too large" in err, err
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_sigterm_during_synthesis_leaves_no_temporary_file(tmp_path):
    proc = _wavegen(["synth", "--genre", "rock", "--duration", "600", "--out",
                     str(tmp_path / "long.wav")])
    deadline = time.monotonic() + 300

    def written() -> int:  # bytes in the temporary WAV: > 44 once the first chunk is out
        return sum((tmp_path / name).stat().st_size for name in _leftovers(tmp_path))

    while written() <= 44 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert written() > 44, "synthesis never started writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
