"""Does bf16 training learn as well as float32? The same config trained twice, compared.

    python benchmarks/precision_learning.py --config egs/toy/v1/conf/train.yaml \\
        --data-dir egs/toy/v1/dump60 --steps 150 --out exp/precision_learning

Trains the config with ``train.mixed_precision: no`` and again with ``bf16`` (same seed, data,
steps and schedule; each run a ``wavegen train`` child), then scores both final models in
float32 on the same validation segments the trainer uses, so the comparison is of the weights
each precision learned, not of a bf16 evaluation. Prints and writes (``--out``/result.json)
the two validation NLLs, their difference and the wall time of each run, with the machine
facts; exits 1 when the difference exceeds ``--tolerance`` bits/sample (default 0.02). On a
CPU without bf16 units the bf16 run is emulated and many times slower: the numbers it learns
are the same as with the units, only the time differs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml


def train_run(config: dict, precision: str, data_dir: str, out: Path, steps: int,
              threads: int) -> dict:
    """Train ``config`` in ``precision`` for ``steps`` into ``out/<precision>``."""
    cfg = json.loads(json.dumps(config))
    cfg.setdefault("train", {}).update(mixed_precision=precision, max_steps=steps,
                                       valid_every=steps, checkpoint_every=steps,
                                       tensorboard=False)
    exp = out / precision
    exp.mkdir(parents=True, exist_ok=True)
    conf = out / f"train_{precision}.yaml"
    conf.write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "wavegen", "train", "--config", str(conf),
                    "--data-dir", data_dir, "--exp-dir", str(exp)], check=True, env=env)
    return {"precision": precision, "seconds": time.perf_counter() - start,
            "model": str(exp / "model.pt")}


def valid_bits_fp32(model_path: str, data_dir: str) -> float:
    """Validation bits/sample of a model file, in float32, on the trainer's fixed segments."""
    from wavegen.config import load_config
    from wavegen.data.dump import DumpStore
    from wavegen.data.segments import SegmentSampler
    from wavegen.models.io import load_model
    from wavegen.train.trainer import VALID_SEED, nll_bits

    model, _ = load_model(model_path)
    cfg = load_config(Path(model_path).parent / "config.yaml")
    store = DumpStore(Path(data_dir) / "valid")
    sampler = SegmentSampler(store, cfg.train.segment_length, cfg.model.n_classes)
    gen = torch.Generator().manual_seed(VALID_SEED)
    batches = [sampler.batch(cfg.train.batch_size, gen) for _ in range(cfg.train.valid_batches)]
    model.eval()
    with torch.no_grad():
        bits = [nll_bits(model, c, g).item() for c, g in batches]
    return sum(bits) / len(bits)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--data-dir", required=True, help="dump folder with train/ and valid/")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tolerance", type=float, default=0.02, help="bits/sample")
    p.add_argument("--out", default="exp/precision_learning")
    p.add_argument("--reuse", action="store_true",
                   help="score the models already in --out instead of training them again")
    a = p.parse_args(argv)
    if a.steps < 1 or a.threads < 1 or not 0 <= a.tolerance < float("inf"):
        p.error("--steps and --threads must be >= 1 and --tolerance a finite number >= 0")
    from wavegen.machine import describe, machine_facts

    config = yaml.safe_load(Path(a.config).read_text())
    out = Path(a.out)
    runs = [{"precision": prec, "seconds": None, "model": str(out / prec / "model.pt")}
            if a.reuse and (out / prec / "model.pt").is_file()
            else train_run(config, prec, a.data_dir, out, a.steps, a.threads)
            for prec in ("no", "bf16")]
    for run in runs:
        run["valid_bits_fp32"] = valid_bits_fp32(run["model"], a.data_dir)
    diff = runs[1]["valid_bits_fp32"] - runs[0]["valid_bits_fp32"]
    facts = machine_facts("cpu", a.threads)
    print(describe(facts))
    print(f"{a.config}, {a.steps} steps, data {a.data_dir}; validation scored in float32")
    for run in runs:
        name = "float32" if run["precision"] == "no" else "bf16 autocast"
        took = (f"trained in {run['seconds'] / 60:.1f} min" if run["seconds"] is not None
                else "reused")
        print(f"{name:>14}: {run['valid_bits_fp32']:.4f} bits/sample, {took}")
    ok = abs(diff) <= a.tolerance
    print(f"bf16 - float32: {diff:+.4f} bits/sample ({'within' if ok else 'OUTSIDE'} "
          f"{a.tolerance} bits)")
    (out / "result.json").write_text(json.dumps(
        {"config": a.config, "steps": a.steps, "data_dir": a.data_dir, "machine": facts,
         "runs": runs, "difference_bits": diff, "tolerance_bits": a.tolerance}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
