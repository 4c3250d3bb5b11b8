"""egs/toy/v1/local/cue_check.py: scores the genres with parts of each clip taken away."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "egs" / "toy" / "v1" / "local" / "cue_check.py"
ROWS = {"procedural": {"full", "pure-melody", "no-melody"},
        "rendered": {"full", "no-drums", "no-sustained", "drums-only"}}


@pytest.mark.parametrize("corpus", sorted(ROWS))
def test_cue_check_reports_every_variant(corpus):
    out = subprocess.run([sys.executable, str(SCRIPT), "--corpus", corpus, "--steps", "60",
                          "--clips", "3", "--test", "2"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = {}
    for line in out.stdout.splitlines():
        m = re.match(r"(\S+)\s+([\d.]+)%", line)
        if m:
            rows[m.group(1)] = float(m.group(2))
    assert set(rows) == ROWS[corpus]
    # Even a briefly trained classifier names full clips well above chance (10%).
    assert rows["full"] >= 40.0, out.stdout
