"""Generation speed of a two-level model at batch 1 with its default sampling, planning included,
against a one-level model in the same run.

    python benchmarks/two_level_speed.py --model TWO_LEVEL.pt \\
        --json benchmarks/results/two_level_speed.json

For each of 1 and 2 threads of the cpu engine, alternating the models round by round: the
two-level model plans ``--seconds`` (its planner's stored temperature, top-p and guidance) and
renders the plan (its renderer's), exactly as ``wavegen synth`` does; the one-level model
(``--baseline``, default the packaged one) generates the same length with its own defaults.
Each figure is the median of ``--repeats`` runs in x real time (seconds of audio per second of
wall time, planning included), with the planner's share and the machine facts beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavegen.engine import stream  # noqa: E402
from wavegen.machine import describe, machine_facts  # noqa: E402
from wavegen.models.io import load_model  # noqa: E402
from wavegen.models.two_level import TwoLevel, load_generator  # noqa: E402
from wavegen.synth import condition_vector  # noqa: E402
from wavegen.two_level_synth import plan_units, render_plan  # noqa: E402
from wavegen.units.store import n_frames_for  # noqa: E402


def two_level_run(two: TwoLevel, genre: str, seconds: float, threads: int
                  ) -> tuple[float, float]:
    """(x real time, seconds spent planning) of one clip."""
    cond = condition_vector(genre, two.vocab, two.label_kind)[None]
    n = int(seconds * two.sample_rate)
    d = two.planner_info.synth_defaults
    guidance = d.get("guidance", 1.0)
    start = time.perf_counter()
    units = plan_units(two, cond, n_frames_for(n, two.hop), temperature=d.get("temperature", 1.0),
                       top_p=d.get("top_p", 1.0), guidance=guidance, guided=guidance != 1.0,
                       seed=0, threads=threads)
    planned = time.perf_counter() - start
    for _ in render_plan(two, cond, units, n, seed=0, threads=threads):
        pass
    return seconds / (time.perf_counter() - start), planned


def one_level_run(net, info, genre: str, seconds: float, threads: int) -> float:
    cond = condition_vector(genre, info.vocab, info.label_kind)[None]
    d = info.synth_defaults
    start = time.perf_counter()
    for _ in stream(net.export_weights(), cond, int(seconds * info.sample_rate), seed=0,
                    temperature=d.get("temperature", 1.0), top_p=d.get("top_p", 1.0),
                    guidance=d.get("guidance", 1.0), threads=threads):
        pass
    return seconds / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="two-level model file")
    ap.add_argument("--baseline", default=None, help="one-level model (default: packaged)")
    ap.add_argument("--genre", default="rock")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    two = load_generator(a.model)
    if not isinstance(two, TwoLevel):
        sys.exit(f"{a.model} is not a two-level model (wavegen pack makes one)")
    net, info = load_model(a.baseline)
    facts = machine_facts(peaks=False)
    rows = []
    for threads in (1, 2):
        two_level_run(two, a.genre, 0.5, threads)  # warm-up
        one_level_run(net, info, a.genre, 0.5, threads)
        ours, planning, theirs = [], [], []
        for _ in range(a.repeats):  # alternated rounds
            speed, planned = two_level_run(two, a.genre, a.seconds, threads)
            ours.append(speed)
            planning.append(planned)
            theirs.append(one_level_run(net, info, a.genre, a.seconds, threads))
        rows.append({"threads": threads,
                     "two_level_x_real_time": round(statistics.median(ours), 3),
                     "planning_seconds": round(statistics.median(planning), 3),
                     "one_level_x_real_time": round(statistics.median(theirs), 3),
                     "runs": {"two_level": [round(r, 3) for r in ours],
                              "one_level": [round(r, 3) for r in theirs]}})
        print(f"threads {threads}: two-level {rows[-1]['two_level_x_real_time']:.2f}x real time "
              f"(planning {rows[-1]['planning_seconds']:.2f} s of it), one-level "
              f"{rows[-1]['one_level_x_real_time']:.2f}x")
    print(describe(facts))
    if a.json:
        a.json.write_text(json.dumps({"machine": facts, "model": a.model,
                                      "baseline": a.baseline or "packaged",
                                      "seconds": a.seconds, "repeats": a.repeats,
                                      "planner_defaults": two.planner_info.synth_defaults,
                                      "renderer_defaults": two.renderer_info.synth_defaults,
                                      "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
