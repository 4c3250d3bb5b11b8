"""The bf16 learning check's arguments: bad values are refused before any training starts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import precision_learning  # noqa: E402


@pytest.mark.parametrize("option, value", [
    ("--steps", "0"), ("--steps", "-3"), ("--threads", "0"), ("--tolerance", "-0.01"),
    ("--tolerance", "nan"), ("--tolerance", "inf"), ("--steps", "many"), ("--tolerance", "")])
def test_bad_arguments_are_refused(option, value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        precision_learning.main(["--config", "c.yaml", "--data-dir", "d", "--out",
                                 str(tmp_path / "out"), option, value])
    assert exc.value.code == 2 and option.lstrip("-") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
