"""Every numeric flag and every output argument of every command, tried with bad values.

The tables are derived from the parser itself, so a flag added later is covered (and a numeric
flag added without a range fails ``test_every_numeric_flag_has_a_range``).
"""

from __future__ import annotations

import argparse
import math
import os
import socket
from pathlib import Path

import pytest

from wavegen.cli import build_parser, main
from wavegen.cliargs import Number, output_dir, output_file

# Enough of each command's required arguments to reach the flag under test.
REQUIRED = {
    "toy-corpus": ["OUTDIR"], "render-corpus": ["OUTDIR"],
    "download": ["gtzan", "--dest", "OUTDIR"],
    "prepare": ["corpus", "OUTDIR"], "prepare-mtat": ["corpus", "OUTDIR"],
    "split-data": ["data", "2"], "check-audio": ["data"], "merge-data": ["data", "2"],
    "merge-dump": ["OUTDIR", "part"], "validate-data-dir": ["data"], "dump": ["data", "OUTDIR"],
    "train": ["--config", "c.yaml", "--data-dir", "d", "--exp-dir", "OUTDIR"],
    "synth": ["--genre", "rock"], "resynth": ["in.wav", "--out", "OUTFILE"],
    "live": [], "bench": [],
    "classifier train": ["--dump-dir", "d", "--out", "OUTFILE"],
    "eval": ["--gen", "g", "--ref", "r", "--classifier", "c", "--out", "OUTDIR"],
    "eval-resynth": ["--ref", "r", "--model", "m", "--classifier", "c", "--out", "OUTDIR"],
    "eval-plans": ["--ref", "r", "--train", "t", "--out", "OUTDIR"],
    "pack": ["--planner", "p", "--renderer", "r", "--out", "OUTFILE"],
    "report": ["exp"], "plot-training": ["exp"],
    "listen build": ["--type", "mos", "--systems", "a=b", "--out", "OUTDIR"],
    "listen serve": ["test"], "listen report": ["test"],
    "units fit": ["dump", "--out", "OUTFILE"], "units extract": ["dump", "--tokenizer", "t"],
    "units clip": ["in.wav", "--tokenizer", "t", "--out", "OUTFILE"],
}


def _commands() -> list[tuple[str, argparse.ArgumentParser]]:
    """(name, parser) of every leaf command, e.g. ("classifier train", <parser>)."""
    out = []

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out.append((prefix, parser))
            return
        for name, sp in subs[0].choices.items():
            walk(f"{prefix} {name}".strip(), sp)

    walk("", build_parser())
    return out


COMMANDS = _commands()


def _numeric_flags() -> list[tuple[str, argparse.Action]]:
    return [(name, a) for name, p in COMMANDS for a in p._actions
            if isinstance(a.type, Number)]


def _bad_values(rule: Number) -> list[str]:
    """Values outside the rule: non-finite, non-numeric, just outside each bound, huge."""
    bad = ["inf", "-inf", "nan", "NaN", "1e400", "", " ", "abc", "1,5", "0x10", "1e", "+-1"]
    if rule.kind is int:
        bad += ["1.5", "1e3", "2**8"]
    step = 1 if rule.kind is int else 1e-6
    if rule.lo is not None:
        bad.append(str(rule.lo) if rule.lo_open else str(rule.lo - step))
        bad.append(str(rule.lo - 10**12))
    if rule.hi is not None:
        bad.append(str(rule.hi) if rule.hi_open else str(rule.hi + step))
        bad.append(str(rule.hi + 10**12))
    return bad


def _argv(command: str, tmp: Path, extra: list[str]) -> list[str]:
    args = [a.replace("OUTDIR", str(tmp / "out")).replace("OUTFILE", str(tmp / "f.pt"))
            for a in REQUIRED[command]]
    return command.split() + args + extra


def test_every_command_is_in_the_table():
    assert sorted(REQUIRED) == sorted(name for name, _ in COMMANDS)


def test_every_numeric_flag_has_a_range():
    """No bare ``type=int``/``type=float``: each number is a Number with a stated range."""
    for name, parser in COMMANDS:
        for a in parser._actions:
            assert a.type not in (int, float) or a.choices, (
                f"wavegen {name} {a.option_strings or a.dest}: use cliargs.number()")
            if isinstance(a.type, Number):
                assert a.type.range_text in a.help, (name, a.dest)


@pytest.mark.parametrize("command,action", _numeric_flags(),
                         ids=[f"{n}:{a.option_strings[0] if a.option_strings else a.dest}"
                              for n, a in _numeric_flags()])
def test_bad_numbers_are_one_line_exit_2(command, action, tmp_path, capsys):
    flag = action.option_strings[0] if action.option_strings else None
    tried = 0
    for value in _bad_values(action.type):
        if flag is None:  # a positional: replace it in the required arguments
            argv = _argv(command, tmp_path, [])
            argv[argv.index("2")] = value
        else:
            argv = _argv(command, tmp_path, [f"{flag}={value}"])
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2, (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
        # A positional starting with '-' reads as an unknown option: refused all the same.
        assert (action.type.range_text in err or "not" in err
                or (flag is None and value.startswith("-"))), err
        tried += 1
    assert not (tmp_path / "out").exists()  # refused before anything was written
    assert tried >= 12


@pytest.mark.parametrize("text,kind,value", [
    ("5", int, 5), ("0", int, 0), ("-3", int, -3), ("2.5", float, 2.5), ("1e-3", float, 1e-3),
])
def test_numbers_in_range_pass(text, kind, value):
    assert Number(kind, -10, 10)(text) == value


def test_range_text():
    assert Number(float, 0, 1, lo_open=True).range_text == "(0, 1]"
    assert Number(int, 1).range_text == ">= 1"
    assert Number(float, hi=2.0, hi_open=True).range_text == "< 2"
    with pytest.raises(argparse.ArgumentTypeError, match=r"\(0, 1\]"):
        Number(float, 0, 1, lo_open=True)("0")
    assert math.isclose(Number(float, 0, 1, lo_open=True)("1"), 1.0)


def _special_files(tmp: Path) -> dict[str, Path]:
    """Existing things that are not regular files, made for real."""
    fifo = tmp / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    sock.close()  # the socket file stays
    (tmp / "dir").mkdir()
    (tmp / "loop").symlink_to(tmp / "loop")
    (tmp / "to_dir").symlink_to(tmp / "dir")
    (tmp / "dangling").symlink_to(tmp / "missing")
    return {"null device": Path(os.devnull), "full device": Path("/dev/full"), "fifo": fifo,
            "socket": sock_path, "directory": tmp / "dir", "symlink loop": tmp / "loop",
            "symlink to a directory": tmp / "to_dir", "dangling symlink": tmp / "dangling"}


def test_output_file_refuses_every_special_target(tmp_path):
    for what, path in _special_files(tmp_path).items():
        if not os.path.lexists(path):
            continue  # /dev/full is missing on some systems
        with pytest.raises(argparse.ArgumentTypeError):
            output_file(str(path))
        assert os.path.lexists(path), what
    (tmp_path / "plain.wav").write_bytes(b"x")
    assert output_file(str(tmp_path / "plain.wav")) == str(tmp_path / "plain.wav")


def test_output_dir_refuses_files_and_devices(tmp_path):
    (tmp_path / "file").write_text("keep me")
    for path in [tmp_path / "file", Path(os.devnull)] + [
            p for w, p in _special_files(tmp_path).items()
            if w not in ("directory", "symlink to a directory", "null device", "full device")]:
        with pytest.raises(argparse.ArgumentTypeError):
            output_dir(str(path))
    assert (tmp_path / "file").read_text() == "keep me"
    for good in (tmp_path / "dir", tmp_path / "to_dir", tmp_path / "new" / "deeper"):
        assert output_dir(str(good)) == str(good)


def _output_flags() -> list[tuple[str, argparse.Action]]:
    return [(n, a) for n, p in COMMANDS for a in p._actions if a.type in (output_file, output_dir)]


@pytest.mark.parametrize("command,action", _output_flags(),
                         ids=[f"{n}:{a.option_strings[0] if a.option_strings else a.dest}"
                              for n, a in _output_flags()])
def test_every_output_argument_refuses_special_targets(command, action, tmp_path, capsys):
    specials = _special_files(tmp_path)
    (tmp_path / "file").write_text("keep me")
    folders = ("directory", "symlink to a directory")
    targets = [p for w, p in specials.items()
               if os.path.lexists(p) and (action.type is output_file or w not in folders)]
    if action.type is output_dir:
        targets.append(tmp_path / "file")
    for target in targets:
        flag = action.option_strings[0] if action.option_strings else None
        argv = _argv(command, tmp_path, [])
        if flag is None:
            argv[argv.index(str(tmp_path / "out"))] = str(target)
        elif flag in argv:
            argv[argv.index(flag) + 1] = str(target)
        else:
            argv += [flag, str(target)]
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.count("\n") == 1, (argv, err)
    assert (tmp_path / "file").read_text() == "keep me"
    assert Path(os.devnull).is_char_device()


def test_docs_list_every_range():
    """docs/errors.md lists each command's accepted ranges, as the parser has them."""
    doc = (Path(__file__).parents[1] / "docs" / "errors.md").read_text()
    for name, parser in COMMANDS:
        for a in parser._actions:
            if isinstance(a.type, Number):
                flag = a.option_strings[0] if a.option_strings else a.dest.upper()
                assert f"| `{name}` | `{flag}` | {a.type.range_text} |" in doc, (name, flag)
