"""``wavegen units fit | extract | clip`` in-process, and bad input through the CLI."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from unit_sizes import RATE, K

from wavegen.cli import build_parser, main
from wavegen.data.dump import dump_data_dir
from wavegen.units import tokenizer as tokenizer_module
from wavegen.units.features import GROUP_WEIGHTS
from wavegen.units.plan import read_plan
from wavegen.units.store import UnitStore
from wavegen.units.tokenizer import Tokenizer


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def test_fit_extract_clip(dumps: Path, tokenizer: Tokenizer, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tokenizer.pt"
    assert main(["units", "fit", str(dumps / "train"), "--out", str(out), "--n-units", str(K),
                 "--seed", "0"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == tokenizer.identity() == Tokenizer.load(out).identity()
    valid = Path(shutil.copytree(dumps / "valid", tmp_path / "valid"))
    assert main(["units", "extract", str(valid), "--tokenizer", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{valid}/units: {10 * 50} frames\n"
    assert "units valid" in captured.err  # the progress bar
    assert UnitStore(valid / "units").tokenizer == tokenizer.identity()
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros((4000, 2)) + 0.1, 44100)  # stereo, 44.1 kHz
    assert main(["units", "clip", str(wav), "--tokenizer", str(out),
                 "--out", str(tmp_path / "p.json")]) == 0
    assert read_plan(tmp_path / "p.json").n_frames == 5  # 726 samples at 8 kHz


def test_other_weights_and_groups(dumps: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.pt"
    assert main(["units", "fit", str(dumps / "train"), "--out", str(out), "--n-units", "64",
                 "--hop", "320", "--features", "mel,onset:3", "--max-frames", "1000"]) == 0
    ident = json.loads(capsys.readouterr().out)
    assert (ident["hop"], ident["features"]) == (320, ["onset", "mel"])
    assert Tokenizer.load(out).spec.weights == (3.0, 2.0)


def test_cli_defaults_are_the_library_defaults() -> None:
    fit = build_parser().parse_args(["units", "fit", "d", "--out", "o"])
    defaults = inspect.signature(tokenizer_module.fit_tokenizer).parameters
    assert fit.n_units == defaults["n_units"].default == 256
    assert fit.hop == defaults["hop"].default == 160
    assert fit.features.split(",") == list(defaults["features"].default)
    text = build_parser()._subparsers._group_actions[0].choices["units"]
    fit_help = text._subparsers._group_actions[0].choices["fit"].format_help()
    for bound in (tokenizer_module.MAX_FRAMES, tokenizer_module.MAX_CLIPS):
        assert f"(default {bound})" in fit_help
    lo, hi = tokenizer_module.N_UNITS_RANGE
    assert f"range [{lo}, {hi}]" in fit_help
    weights = ", ".join(f"{g} {w:g}" for g, w in GROUP_WEIGHTS.items())
    assert f"unweighted groups: {weights})" in " ".join(fit_help.split())


@pytest.fixture(scope="module")
def bad_inputs(dumps: Path, tokenizer_file: Path, prepared: tuple[Path, dict],
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    dump_data_dir(prepared[0] / "test", root / "test16k", 16000)
    sf.write(root / "empty.wav", np.zeros(0, np.float32), RATE)
    nan = np.zeros(800, np.float32)
    nan[100] = np.nan
    sf.write(root / "nan.wav", nan, RATE, subtype="FLOAT")
    (root / "junk.pt").write_bytes(b"not a tokenizer")
    os.mkfifo(root / "fifo")
    (root / "folder").mkdir()
    return {"root": root, "tok": tokenizer_file, "valid": dumps / "valid",
            "train": dumps / "train"}


@pytest.mark.parametrize("argv,message", [
    (["extract", "{root}/test16k", "--tokenizer", "{tok}"],
     "fitted at 8000 Hz, the dump .* is at 16000 Hz"),
    (["extract", "{valid}", "--tokenizer", "{tok}", "--hop", "320"],
     "hop of 160 samples, the dump .* asks for 320; fit a tokenizer with --hop 320"),
    (["extract", "{valid}", "--tokenizer", "{root}/junk.pt"], "is not a wavegen tokenizer"),
    (["extract", "{valid}", "--tokenizer", "{root}/fifo"], "is a FIFO"),
    (["extract", "{valid}", "--tokenizer", "{root}/folder"], "is a directory"),
    (["extract", "{root}/folder", "--tokenizer", "{tok}"], "is not a complete dump"),
    (["clip", "{root}/empty.wav", "--tokenizer", "{tok}", "--out", "{root}/p.json"],
     "is empty"),
    (["clip", "{root}/nan.wav", "--tokenizer", "{tok}", "--out", "{root}/p.json"],
     "non-finite samples"),
    (["clip", "{root}/fifo", "--tokenizer", "{tok}", "--out", "{root}/p.json"], "is a FIFO"),
    (["clip", "{root}/folder", "--tokenizer", "{tok}", "--out", "{root}/p.json"],
     "is a directory"),
    (["clip", "{root}/none.wav", "--tokenizer", "{tok}", "--out", "{root}/p.json"],
     "not found"),
    (["clip", "{root}/empty.wav", "--tokenizer", "{tok}", "--out", "{root}/folder"],
     "exists and is a directory"),
    (["fit", "{train}", "--out", "{root}/t.pt", "--n-units", "1025"], "out of range"),
    (["fit", "{train}", "--out", "{root}/t.pt", "--n-units", "nan"], "is not an integer"),
    (["fit", "{train}", "--out", "{root}/t.pt", "--hop", "40"], r"give a hop in \[80, 320\]"),
    (["fit", "{train}", "--out", "{root}/t.pt", "--features", "mfcc"], "comma-separated"),
    (["fit", "{train}", "--out", "{root}/fifo"], "is a FIFO"),
    (["fit", "{root}/folder", "--out", "{root}/t.pt"], "is not a complete dump"),
])
def test_bad_input_exits_2_with_one_line(bad_inputs: dict[str, Path], argv: list[str],
                                         message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.format(**bad_inputs) for a in argv]
    assert exit_code(["units", *argv]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "wavegen units" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(message, lines[0]), lines[0]
    root = bad_inputs["root"]
    assert not (root / "p.json").exists() and not (root / "t.pt").exists()
