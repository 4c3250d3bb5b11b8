"""Progress bars: redrawn in place on a terminal, whole lines in log files and pipes."""

from __future__ import annotations

import fcntl
import io
import os
import select
import struct
import termios

import pytest

from wavegen import progress as progress_mod
from wavegen.cli import main
from wavegen.progress import LineStream, progress


def test_in_a_log_file_every_update_is_a_whole_line() -> None:
    log = io.StringIO()
    with progress(total=5, desc="dump", unit="utt", file=log, mininterval=0) as bar:
        for _ in range(5):
            bar.update(1)
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) >= 5 and all(line.startswith("dump:") for line in lines)
    assert "5/5" in lines[-1] and "utt/s" in lines[-1]


def test_in_a_log_file_updates_are_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of quick updates give the first and the last line, not thousands."""
    log = io.StringIO()
    with progress(total=2000, desc="synth", file=log) as bar:
        for _ in range(2000):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert 1 <= len(lines) <= 3 and "2000/2000" in lines[-1]
    assert progress_mod.LOG_INTERVAL_S >= 10


def test_on_a_terminal_the_bar_redraws_in_place() -> None:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    try:
        with open(slave, "w", closefd=False) as tty, progress(total=3, desc="eval", file=tty,
                                                              mininterval=0) as bar:
            assert tty.isatty()
            for _ in range(3):
                bar.update(1)
        chunks = []
        while select.select([master], [], [], 0.5)[0]:
            chunks.append(os.read(master, 65536))
        out = b"".join(chunks).decode()
    finally:
        os.close(master)
        os.close(slave)
    assert "\r" in out and "3/3" in out


@pytest.mark.parametrize("text, want", [("\rab\rcd", "ab\ncd\n"), ("", ""), ("\r\r\n", ""),
                                        ("x  \n", "x\n")])
def test_line_stream_turns_redraws_into_lines(text: str, want: str) -> None:
    out = io.StringIO()
    assert LineStream(out).write(text) == len(text)
    assert out.getvalue() == want


def test_synth_progress_in_a_log_reads_as_lines_in_x_real_time(tmp_path, capsys) -> None:
    assert main(["synth", "--genre", "rock", "--duration", "0.05", "--seed", "3",
                 "--out", str(tmp_path / "rock.wav")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert any(line.startswith("synth:") and "x real time" in line for line in err.splitlines())


def test_bad_input_fails_before_the_bar_is_drawn(tmp_path, capsys) -> None:
    assert main(["synth", "--genre", "rock", "--duration", "0.05", "--engine", "warp",
                 "--out", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert "unknown engine 'warp'" in err and "%|" not in err  # no bar was drawn
