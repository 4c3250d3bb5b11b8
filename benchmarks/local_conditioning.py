"""What local conditioning costs the ``cpu`` engine: the same engine and batch with and without
a random plan (hop 160), in alternating rounds of one run, on the BENCH shape and on the
packaged model. The bar: with a plan, at least 0.95x the speed without.

    python benchmarks/local_conditioning.py          # table + results/local_conditioning.json
    python benchmarks/local_conditioning.py --repeats 21

Each point is ``wavegen bench``'s (:func:`wavegen.bench.run_bench`): medians of the rounds
after a warm-up, the ratio the median of the rounds' ratios; the machine (CPU model, ISA
flags) is written beside the figures. A timed run includes building the engine and laying out
its plan (once per clip: checking the table and laying it out, a few ms on a busy machine),
so the runs are long enough for that to be a small part: about a second each.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wavegen.bench import run_bench
from wavegen.machine import describe, machine_facts

HERE = Path(__file__).parent
PACKAGED = HERE.parent / "wavegen" / "pretrained" / "default.pt"
BAR = 0.95
# Aggregate samples per timed run, by config and batch: about a second each on 2 cores.
SAMPLES = {"BENCH": {1: 8000, 16: 32000}, "packaged": {1: 8000, 16: 64000}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=11, help="rounds per point (median)")
    p.add_argument("--json", default=str(HERE / "results" / "local_conditioning.json"),
                   help="where to write the results")
    a = p.parse_args()
    facts = machine_facts(peaks=False)
    points = []
    for config, key in (("BENCH", "BENCH"), (str(PACKAGED), "packaged")):
        label = "BENCH" if key == "BENCH" else "packaged (default.pt)"
        for batch, samples in SAMPLES[key].items():
            result = run_bench(config, ["cpu"], (batch,), samples, a.repeats)
            points += [{"config": label, **row} for row in result["results"]]
    print(describe(facts))
    for pt in points:
        verdict = "met" if pt["local_ratio"] >= BAR else "NOT met"
        print(f"{pt['config']:>22} batch {pt['batch']:>2}: {pt['samples_per_s']:>9,.0f} -> "
              f"{pt['local_samples_per_s']:>9,.0f} samples/s with a plan, "
              f"{pt['local_ratio']:.3f}x ({verdict})")
    Path(a.json).write_text(json.dumps({"machine": facts, "bar": BAR, "hop": 160,
                                        "repeats": a.repeats, "results": points},
                                       indent=1) + "\n")


if __name__ == "__main__":
    main()
