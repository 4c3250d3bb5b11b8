"""The GPU check's plumbing: parts run in children with time limits, CUDA parts are skipped
(and the summary says so) without a GPU, and a failing or overrunning part fails the check."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import gpu_check  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the check runs for real")
def test_without_cuda_the_check_runs_its_plumbing_and_says_what_it_skipped(
        tmp_path: Path) -> None:
    out = tmp_path / "check"
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--out", str(out),
                           "--quick"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = (out / "summary.txt").read_text()
    assert "CUDA parts SKIPPED" in summary and summary.rstrip().endswith("RESULT: ok")
    got = json.loads((out / "gpu_check.json").read_text())
    assert got["machine"]["cuda"] is False
    parts = {p["name"]: p for p in got["parts"]}
    assert list(parts) == ["exactness", "bench", "train_step"]
    tests = parts["exactness"]["tests"]  # pytest really ran and found the CUDA tests
    assert tests["tests"] >= 10 and tests["skipped"] == tests["tests"]
    assert parts["exactness"]["status"] == "skipped"
    assert all(parts[n]["status"] == "skipped" and "no CUDA" in parts[n]["reason"]
               for n in ("bench", "train_step"))
    # The local-conditioning line: the plan's CUDA tests, all skipped here, and no speed
    # ratios (the bench did not run). Counted from the JUnit file itself.
    names = [c.get("name") for c in ET.parse(out / "exactness.xml").getroot().iter("testcase")]
    local = [n for n in names if "plan" in n or "set_local" in n]
    forward = "test_teacher_forced_logits_on_cuda_equal_the_parallel_forward[4-with-a-plan-"
    assert {"test_cuda_engines_follow_set_local_mid_run",
            "test_cuda_engines_sample_with_a_plan_what_the_cpu_reference_samples",
            f"{forward}small]", f"{forward}bench]"} <= set(local)
    lines = summary.splitlines()
    assert lines[-2] == f"local conditioning: exactness 0 passed, 0 failed, {len(local)} skipped"


def test_every_part_command_starts(tmp_path: Path) -> None:
    """Each part's command line is accepted by what it runs (``--help`` parses it and exits)."""
    for part in gpu_check.parts(tmp_path, quick=True):
        proc = subprocess.run([*part.command, "--help"], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, f"{part.name}: {proc.stderr[-2000:]}"
        assert "usage" in proc.stdout.lower(), part.name


def test_a_failing_part_fails_the_check_loudly(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    broken = gpu_check.Part("broken", [sys.executable, "-c",
                                       "print('logit mismatch 0.3 at t=17'); raise SystemExit(3)"],
                            share=0.5, needs_cuda=False)
    fine = gpu_check.Part("fine", [sys.executable, "-c", "print('ok')"], share=0.5,
                          needs_cuda=False)
    assert gpu_check.main(["--out", str(tmp_path)], [fine, broken]) == 1
    summary = (tmp_path / "summary.txt").read_text()
    assert "[ FAILED] broken" in summary and "logit mismatch 0.3 at t=17" in summary
    assert "[     OK] fine" in summary and "RESULT: FAILED (broken)" in summary
    rec = json.loads((tmp_path / "gpu_check.json").read_text())["parts"][1]
    assert rec["returncode"] == 3


def test_a_part_past_its_time_limit_is_stopped_and_fails(tmp_path: Path) -> None:
    slow = gpu_check.Part("slow", [sys.executable, "-c", "import time; time.sleep(60)"],
                          share=1.0, needs_cuda=False)
    assert gpu_check.main(["--out", str(tmp_path), "--budget", "1"], [slow]) == 1
    rec = json.loads((tmp_path / "gpu_check.json").read_text())["parts"][0]
    assert rec["status"] == "timeout" and rec["seconds"] < 30
    assert "ran past its 1 s limit" in (tmp_path / "summary.txt").read_text()


@pytest.mark.parametrize("budget", ["0", "-5", "nan", "inf", "abc", ""])
def test_bad_budgets_are_refused(budget: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        gpu_check.main(["--out", str(tmp_path), "--budget", budget])
    assert exc.value.code == 2 and "--budget" in capsys.readouterr().err


def test_junit_counts(tmp_path: Path) -> None:
    xml = tmp_path / "r.xml"
    xml.write_text('<testsuites><testsuite tests="5" failures="1" errors="0" skipped="2"/>'
                   "</testsuites>")
    assert gpu_check.junit_counts(xml) == {"tests": 5, "failures": 1, "errors": 0,
                                           "skipped": 2, "passed": 2}
