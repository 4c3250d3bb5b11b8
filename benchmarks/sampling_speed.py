"""Generation speed of a real model with its sampling settings: guidance, top-p, threads.

    python benchmarks/sampling_speed.py --json benchmarks/results/sampling_speed.json

The packaged model (or ``--model``) generates one clip through ``wavegen.engine.stream`` in
50 ms control blocks, as ``wavegen live`` and a moving ``wavegen synth`` do, for each
combination of: guided (the model's guidance) or not, top-p (the model's) or 1, and the cpu
engine on 1 or 2 threads. Each point is the median of ``--repeats`` runs of ``--seconds`` of
audio after a warm-up, in x real time, with the machine facts written next to it. Run it at an
older commit (``PYTHONPATH=<checkout> python benchmarks/sampling_speed.py``) to compare.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavegen.engine import stream  # noqa: E402
from wavegen.engine.controls import control_every  # noqa: E402
from wavegen.machine import describe, machine_facts  # noqa: E402
from wavegen.models.io import load_model  # noqa: E402


def speed(weights, cond, rate: int, seconds: float, temperature: float, top_p: float,
          guidance: float, threads: int) -> float:
    every = control_every(rate)
    start = time.perf_counter()
    for _ in stream(weights, cond, int(seconds * rate), temperature=temperature, top_p=top_p,
                    guidance=guidance, seed=0, chunk_size=every, cond_at=lambda s: cond,
                    control_every=every, threads=threads):
        pass
    return seconds / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model file (default: the packaged one)")
    ap.add_argument("--genre", default="rock")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    net, info = load_model(a.model)
    weights = net.export_weights()
    cond = torch.zeros(1, len(info.vocab))
    cond[0, info.vocab.index(a.genre)] = 1.0
    d = info.synth_defaults
    temperature, top_p, guidance = (d.get("temperature", 1.0), d.get("top_p", 1.0),
                                    d.get("guidance", 1.0))
    facts = machine_facts(peaks=False)
    rows = []
    for guided, nucleus, threads in itertools.product((True, False), (True, False), (1, 2)):
        g, p = (guidance if guided else 1.0), (top_p if nucleus else 1.0)
        speed(weights, cond, info.sample_rate, 0.5, temperature, p, g, threads)  # warm-up
        runs = [speed(weights, cond, info.sample_rate, a.seconds, temperature, p, g, threads)
                for _ in range(a.repeats)]
        rows.append({"guidance": g, "top_p": p, "threads": threads,
                     "x_real_time": round(statistics.median(runs), 3),
                     "runs": [round(r, 3) for r in runs]})
        print(f"guidance {g:>4g}  top-p {p:<4g}  threads {threads}:  "
              f"{rows[-1]['x_real_time']:.2f}x real time")
    print(describe(facts))
    if a.json:
        a.json.write_text(json.dumps({"machine": facts, "model": a.model or "packaged",
                                      "temperature": temperature, "seconds": a.seconds,
                                      "repeats": a.repeats, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
