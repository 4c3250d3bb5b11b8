"""Generation speed of each engine on a model, batch 1 and a genre batch.

    python benchmarks/engine_speed.py                      # the packaged default model
    python benchmarks/engine_speed.py --model exp/model.pt --samples 4000 --json out.json

Prints samples/s per batch row and aggregate, and the real-time factor (generated audio
seconds per wall-clock second, aggregate over the batch). The reference engine recomputes the
receptive field per sample, so it gets fewer samples.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from wavegen.engine import ENGINES, generate
from wavegen.models.io import load_model


def measure(weights, cond, engine: str, n: int, repeats: int) -> float:
    """Median wall time of ``repeats`` runs of n samples, after one warm-up run."""
    generate(weights, cond, min(n, 200), engine=engine, seed=0)
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        generate(weights, cond, n, engine=engine, seed=r)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model file (default: the packaged default model)")
    p.add_argument("--samples", type=int, default=4000, help="samples per run (cached)")
    p.add_argument("--reference-samples", type=int, default=400, help="samples per run (reference)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 10], help="batch sizes")
    p.add_argument("--repeats", type=int, default=3, help="runs per point (median)")
    p.add_argument("--json", default=None, help="write results here")
    a = p.parse_args()
    model, info = load_model(a.model)
    weights = model.export_weights()
    rows = []
    for engine in ENGINES:
        for batch in a.batches:
            n = a.reference_samples if engine == "reference" else a.samples
            cond = torch.eye(info.config.n_cond)[torch.arange(batch) % info.config.n_cond]
            secs = measure(weights, cond, engine, n, a.repeats)
            rows.append({"engine": engine, "batch": batch, "samples_per_s_per_row": n / secs,
                         "samples_per_s": batch * n / secs,
                         "realtime_factor": batch * n / secs / info.sample_rate})
    print(f"{'engine':>10} {'batch':>5} {'samples/s/row':>14} {'samples/s':>10} {'x realtime':>10}")
    for r in rows:
        print(f"{r['engine']:>10} {r['batch']:>5} {r['samples_per_s_per_row']:>14,.0f} "
              f"{r['samples_per_s']:>10,.0f} {r['realtime_factor']:>10.3f}")
    if a.json:
        meta = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                "machine": platform.machine(), "processor": platform.processor(),
                "model_params": sum(p.numel() for p in model.parameters())}
        with open(a.json, "w") as fh:
            json.dump({"meta": meta, "results": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
