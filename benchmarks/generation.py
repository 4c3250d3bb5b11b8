"""Generation speed on the BENCH shape: the fused engines against the plain baselines.

    python benchmarks/generation.py                          # table + results/generation.json
    python benchmarks/generation.py --samples 64000 --repeats 7

Baselines: ``reference`` recomputes the receptive field for every sample (the naive way),
``cached`` is the straightforward per-layer PyTorch cached loop (Fast WaveNet queues, one
``addmm`` per weight matrix and layer). ``cpu`` is the fused numba loop (``cpu-bf16`` the same
with bfloat16 weights, not exact, never the default). Every point runs after
a warm-up, as the median of the repeats, with the machine's fp32 matmul peak measured in the
same run (see ``wavegen bench``, which this calls).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wavegen.bench import run_bench
from wavegen.engine import ENGINES

HERE = Path(__file__).parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="BENCH", help="BENCH or a model file")
    p.add_argument("--samples", type=int, default=32000, help="samples per run (fused engines)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per point (median)")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 16], help="batch sizes")
    p.add_argument("--json", default=str(HERE / "results" / "generation.json"),
                   help="where to write the results")
    a = p.parse_args()
    engines = [e for e in ("reference", "cached", "cpu", "triton") if e in ENGINES] + ["cpu-bf16"]
    run_bench(a.config, engines, tuple(a.batch), a.samples, a.repeats, a.json)


if __name__ == "__main__":
    main()
