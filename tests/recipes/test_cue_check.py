"""egs/toy/v1/local/cue_check.py: scores the toy genres with parts of each clip taken away."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "egs" / "toy" / "v1" / "local" / "cue_check.py"


def test_cue_check_reports_every_variant():
    out = subprocess.run([sys.executable, str(SCRIPT), "--steps", "60", "--clips", "4"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = {}
    for line in out.stdout.splitlines():
        m = re.match(r"(\S+)\s+([\d.]+)%", line)
        if m:
            rows[m.group(1)] = float(m.group(2))
    assert set(rows) == {"full", "pure-melody", "no-melody"}
    # Even a briefly trained classifier names full clips well above chance (10%).
    assert rows["full"] >= 50.0, out.stdout
