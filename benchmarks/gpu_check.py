"""The GPU check in one command: exactness on CUDA, generation speed, training-step speed.

    benchmarks/gpu_check.sh [--out exp/gpu_check] [--budget 470]

On a CUDA machine, with no network, it runs in order

1. ``exactness``: the CUDA tests (compiled Triton tile and persistent kernels, the graph and
   cached engines against the model's forward at the benchmark shape and sampling fed the CPU
   reference's uniforms, with and without a local-conditioning plan; CUDA graph capture; the
   fused training path in float32 and under bf16 / fp16 autocast against the reference layers);
2. ``bench``: ``wavegen bench --device cuda`` at batch 1, 16 and 64 (triton, graph, cached),
   each point also with a plan;
3. ``train_step``: ``benchmarks/train_step.py --device cuda`` (baseline, reference, fused with
   the compiled gate loops and with eager ones, and the bf16 columns), alternated rounds;

each in a child process with its own time limit (the budget is split so the whole check stays
under 8 minutes), and writes ``gpu_check.json`` (every part's status, seconds, results and the
machine) and ``summary.txt`` into ``--out``. The summary's local-conditioning line gathers
the plan's exactness tests (which passed) and the speed with a plan against without. A part
that fails, mismatches or runs out of time is printed with the tail of its log and makes the
exit status 1. Without a CUDA device the CUDA parts are skipped and the summary says so (the
exactness part still runs, and reports its tests as skipped), so the plumbing can be tried
anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Part:
    """One step of the check: a command, its share of the time budget, what it writes."""

    name: str
    command: list[str]
    share: float  # fraction of the budget
    needs_cuda: bool = True
    result: str | None = None  # JSON file (relative to the output folder) the part writes
    junit: str | None = None  # pytest's JUnit XML, for the test counts
    extra: dict = field(default_factory=dict)


def parts(out: Path, quick: bool = False) -> list[Part]:
    """The check's parts, writing into ``out``; ``quick`` shrinks the measurements."""
    py = sys.executable
    tests = ["tests/engine/test_cuda_engines.py",
             "tests/engine/test_graph.py::test_captured_replay_equals_eager",
             "tests/models/test_wavenet_fused.py::test_fused_matches_reference_on_cuda",
             "tests/models/test_wavenet_fused.py::test_autocast_on_cuda_stays_close_to_exact"]
    bench = [py, "-m", "wavegen", "bench", "--device", "cuda", "--batch", "1", "16", "64",
             "--repeats", "3", "--json", str(out / "bench.json")]
    train = [py, str(ROOT / "benchmarks" / "train_step.py"), "--device", "cuda", "--variants",
             "baseline", "reference", "fused", "fused-eager-gate", "baseline-bf16", "fused-bf16",
             "--rounds", "2", "--json", str(out / "train_step.json")]
    if quick:
        bench += ["--samples", "2000"]
        train += ["--length", "2000", "--steps", "2"]
    return [
        Part("exactness", [py, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           *tests,
                           f"--junitxml={out / 'exactness.xml'}"],
             share=0.3, needs_cuda=False, junit="exactness.xml"),
        Part("bench", bench, share=0.3, result="bench.json"),
        Part("train_step", train, share=0.4, result="train_step.json"),
    ]


def cuda_facts() -> dict:
    """The GPU, the driver's CUDA, torch and Triton versions; ``{"cuda": False}`` without one."""
    import torch

    facts: dict = {"cuda": torch.cuda.is_available(), "torch": torch.__version__}
    try:
        import triton

        facts["triton"] = triton.__version__
    except ImportError:
        facts["triton"] = None
    if facts["cuda"]:
        props = torch.cuda.get_device_properties(0)
        facts.update(device=props.name, sms=props.multi_processor_count,
                     memory_gib=round(props.total_memory / 2**30, 1),
                     cuda_runtime=torch.version.cuda, capability=[props.major, props.minor])
    return facts


def junit_counts(path: Path) -> dict[str, int]:
    """Test counts from pytest's JUnit XML: tests, failures, errors, skipped, passed."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    counts = {k: sum(int(s.get(k, 0)) for s in suites)
              for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def junit_cases(path: Path) -> dict[str, str]:
    """Each test case's status from pytest's JUnit XML: name -> passed / failed / skipped."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        tags = {child.tag for child in case}
        cases[case.get("name", "")] = ("failed" if tags & {"failure", "error"} else
                                       "skipped" if "skipped" in tags else "passed")
    return cases


LOCAL_TESTS = ("plan", "set_local")  # words in the names of the local-conditioning tests


def local_line(records: list[dict], out: Path) -> str:
    """The local-conditioning line: its CUDA tests (exactness of every GPU engine with a plan)
    and, from the bench, each engine's speed with a plan relative to without."""
    exact = next((r for r in records if r["name"] == "exactness"), None)
    cases = ({} if exact is None or not (out / "exactness.xml").exists()
             else junit_cases(out / "exactness.xml"))
    local = {k: v for k, v in cases.items() if any(word in k for word in LOCAL_TESTS)}
    counts = {s: sum(v == s for v in local.values()) for s in ("passed", "failed", "skipped")}
    line = (f"local conditioning: exactness {counts['passed']} passed, {counts['failed']} "
            f"failed, {counts['skipped']} skipped")
    failed = [k for k, v in local.items() if v == "failed"]
    if failed:
        line += f" ({', '.join(failed)})"
    bench = next((r for r in records if r["name"] == "bench" and r.get("result")), None)
    rows = [] if bench is None else [r for r in bench["result"]["results"] if "local_ratio" in r]
    if rows:
        line += "; speed with a plan over without: " + ", ".join(
            f"{r['engine']} batch {r['batch']} {r['local_ratio']:.3f}x" for r in rows)
    return line


def run_part(part: Part, out: Path, seconds: float, have_cuda: bool) -> dict:
    """Run one part with a time limit -> its record (status ok / failed / timeout / skipped)."""
    rec: dict = {"name": part.name, "command": part.command, "limit_s": round(seconds)}
    if part.needs_cuda and not have_cuda:
        rec.update(status="skipped", seconds=0.0, reason="no CUDA device on this machine")
        return rec
    log = out / f"{part.name}.log"
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        try:
            proc = subprocess.run(part.command, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                  timeout=seconds, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            rec["returncode"] = proc.returncode
            rec["status"] = "ok" if proc.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            rec.update(status="timeout", returncode=None)
    rec["seconds"] = round(time.perf_counter() - start, 1)
    rec["log"] = str(log)
    if part.junit and (out / part.junit).exists():
        rec["tests"] = junit_counts(out / part.junit)
        if rec["status"] == "ok" and rec["tests"]["passed"] == 0:
            rec.update(status="skipped", reason="every test was skipped: they need a CUDA "
                       "device")
    if part.result and (out / part.result).exists() and rec["status"] == "ok":
        rec["result"] = json.loads((out / part.result).read_text())
    if rec["status"] in ("failed", "timeout"):
        rec["log_tail"] = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    return rec


def summarize(records: list[dict], facts: dict, budget: float, out: Path) -> str:
    """The short text summary: machine, each part's status and time, key numbers, failures,
    the local-conditioning line."""
    lines = [f"GPU check: {facts.get('device', 'no CUDA device')}"
             + (f" ({facts['sms']} SMs, {facts['memory_gib']} GiB, CUDA {facts['cuda_runtime']})"
                if facts.get("cuda") else "")
             + f", torch {facts['torch']}, triton {facts['triton']}"]
    if not facts.get("cuda"):
        lines.append("CUDA parts SKIPPED: this machine has no CUDA device; only the plumbing "
                     "ran (run it on a GPU machine for the real check)")
    total = sum(r["seconds"] for r in records)
    lines.append(f"time: {total:.0f} s of a {budget:.0f} s budget: " + ", ".join(
        f"{r['name']} {r['seconds']:.0f} s" for r in records))
    for r in records:
        head = f"[{r['status'].upper():>7}] {r['name']}"
        if "tests" in r:
            t = r["tests"]
            head += (f": {t['passed']} passed, {t['failures'] + t['errors']} failed, "
                     f"{t['skipped']} skipped")
        if r.get("reason"):
            head += f" ({r['reason']})"
        if r["status"] == "timeout":
            head += f" (ran past its {r['limit_s']} s limit)"
        lines.append(head)
        lines.extend("    " + line for line in _numbers(r))
        if r.get("log_tail"):
            lines.append(f"    log {r['log']}, last lines:")
            lines.extend("    | " + line for line in r["log_tail"].splitlines()[-15:])
    lines.append(local_line(records, out))
    failed = [r["name"] for r in records if r["status"] in ("failed", "timeout")]
    lines.append(f"RESULT: FAILED ({', '.join(failed)})" if failed else "RESULT: ok")
    return "\n".join(lines)


def _numbers(rec: dict) -> list[str]:
    """The headline numbers of a part's result, one line each."""
    res = rec.get("result")
    if not res:
        return []
    if rec["name"] == "bench":
        return [f"{r['engine']:>8} batch {r['batch']:>3}: {r['samples_per_s']:>12,.0f} "
                f"samples/s ({r['realtime_factor']:.1f}x real time)"
                + (f", {r['local_samples_per_s']:,.0f} with a plan" if "local_ratio" in r else "")
                for r in res["results"]]
    if rec["name"] == "train_step":
        return [f"{r['variant']:>14}: {r['samples_per_s']:>10,.0f} samples/s"
                + (f", {r['speedup']:.2f}x baseline" if r.get("speedup") else "")
                + (f", peak {r['peak_mem_mb']:.0f} MB" if r.get("peak_mem_mb") else "")
                for r in res["results"]]
    return []


def main(argv: list[str] | None = None, part_list: list[Part] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="exp/gpu_check", help="folder for the JSON, summary, logs")
    p.add_argument("--budget", type=float, default=470.0,
                   help="seconds for the whole check, split over the parts (default 470)")
    p.add_argument("--quick", action="store_true", help="smaller measurements (a dry run)")
    a = p.parse_args(argv)
    if not a.budget > 0 or a.budget == float("inf"):
        p.error(f"--budget must be a positive number of seconds, got {a.budget}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    facts = cuda_facts()
    records = []
    for part in part_list if part_list is not None else parts(out.resolve(), a.quick):
        print(f"gpu_check: {part.name} ...", flush=True)
        records.append(run_part(part, out, a.budget * part.share, facts["cuda"]))
        print(f"gpu_check: {part.name} {records[-1]['status']} in "
              f"{records[-1]['seconds']:.0f} s", flush=True)
    text = summarize(records, facts, a.budget, out)
    (out / "summary.txt").write_text(text + "\n", encoding="utf-8")
    (out / "gpu_check.json").write_text(json.dumps(
        {"machine": facts, "budget_s": a.budget, "parts": records}, indent=1) + "\n")
    print(text)
    print(f"wrote {out / 'gpu_check.json'} and {out / 'summary.txt'}")
    return 1 if any(r["status"] in ("failed", "timeout") for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
