"""Training-step speed and peak memory of the WaveNet implementations, in one run.

    python benchmarks/train_step.py                          # BENCH, batch 4 x 8000, 2 threads
    python benchmarks/train_step.py --steps 5 --json out.json

Each variant runs in fresh child processes: warm-up steps, then timed steps of forward +
cross-entropy + backward + Adam. Reported: samples/s (batch x length per second, median of the
per-step times) and peak memory, as the growth of the child's peak resident set size over its
baseline after building the model, the optimizer and the batch (so activations, gradients and
optimizer state). glibc keeps freed blocks of up to 32 MiB in its heap, so that growth depends on
allocation order as much as on tensor sizes; the peak memory column therefore comes from a second
child (one warm-up and one step) with ``MALLOC_MMAP_THRESHOLD_`` fixed at 1 MiB, where every
larger tensor is its own mapping and the resident set follows the live tensors. The default
allocator's number is reported as ``RSS MB``. On CUDA peak memory is
``torch.cuda.max_memory_allocated``. Ratios are relative to ``reference``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import time

VARIANTS = {
    # name: WaveNetConfig overrides
    "reference": {"impl": "reference"},
    "fused-store": {"impl": "fused", "recompute_gate": False},
    "fused": {"impl": "fused", "recompute_gate": True},
    "fused-checkpoint": {"impl": "fused", "checkpoint_activations": True},
}


def run_variant(name: str, a: argparse.Namespace) -> dict:
    """Measure one variant in this process (the child side)."""
    import torch
    import torch.nn.functional as F

    from wavegen.engine.bench import CONFIGS
    from wavegen.models.wavenet import WaveNet

    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    cfg = dataclasses.replace(CONFIGS["BENCH"][0], **VARIANTS[name])
    torch.manual_seed(0)
    model = WaveNet(cfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(1)
    codes = torch.randint(0, cfg.n_classes, (a.batch, a.length + 1), generator=gen).to(device)
    cond = torch.eye(cfg.n_cond)[torch.arange(a.batch) % cfg.n_cond].to(device)  # (B, C)

    def step() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        logits = model(codes[:, :-1], cond)  # (B, A, T)
        loss = F.cross_entropy(logits, codes[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for _ in range(a.warmup):
        step()
    times = sorted(step() for _ in range(a.steps))
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    median = times[len(times) // 2]
    row = {"variant": name, "samples_per_s": a.batch * a.length / median,
           "step_s_median": median, "step_s_min": times[0], "peak_mem_mb": peak / 2**20}
    if a.profile:
        row["gemm_share"] = gemm_share(step)
    return row


def gemm_share(step) -> float:
    """Fraction of one step's operator self time spent in matrix products and convolutions."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events)
    gemm = sum(e.self_cpu_time_total for e in events
               if any(k in e.key for k in ("mm", "conv", "linear", "matmul")))
    return gemm / max(total, 1e-9)


def _child(name: str, a: argparse.Namespace, warmup: int, steps: int,
           env: dict[str, str] | None) -> dict:
    argv = [sys.executable, os.path.abspath(__file__), "--child", name,
            f"--warmup={warmup}", f"--steps={steps}"] + [
        f"--{k}={getattr(a, k)}" for k in ("batch", "length", "threads", "device")] + (
        ["--profile"] if a.profile and env is None else [])
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--length", type=int, default=8000, help="samples per segment")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--profile", action="store_true",
                   help="also report the share of step time in GEMMs and convolutions")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(run_variant(a.child, a)))
        return
    load_before = os.getloadavg()
    rows = []
    for name in a.variants:
        row = _child(name, a, a.warmup, a.steps, env=None)
        if a.device == "cpu":
            env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20)}
            row["rss_mb"] = row["peak_mem_mb"]
            row["peak_mem_mb"] = _child(name, a, 1, 1, env=env)["peak_mem_mb"]
        rows.append(row)
    ref = next((r for r in rows if r["variant"] == "reference"), None)
    print(f"BENCH, batch {a.batch} x {a.length} samples, {a.threads} threads, {a.device}, "
          f"{a.warmup} warm-up + {a.steps} timed steps (median)")
    print(f"{'variant':>17} {'samples/s':>10} {'speed-up':>9} {'peak MB':>8} {'ratio':>6}"
          f" {'RSS MB':>7} {'ratio':>6}")
    for r in rows:
        r["speedup"] = r["samples_per_s"] / ref["samples_per_s"] if ref else float("nan")
        r["mem_ratio"] = r["peak_mem_mb"] / ref["peak_mem_mb"] if ref else float("nan")
        rss = r.get("rss_mb", float("nan"))
        rss_ratio = rss / ref["rss_mb"] if ref and "rss_mb" in ref else float("nan")
        print(f"{r['variant']:>17} {r['samples_per_s']:>10,.0f} {r['speedup']:>8.2f}x "
              f"{r['peak_mem_mb']:>8.0f} {r['mem_ratio']:>6.2f} {rss:>7.0f} {rss_ratio:>6.2f}"
              + (f"  GEMM/conv {r['gemm_share']:.0%} of op time" if "gemm_share" in r else ""))
    load_after = os.getloadavg()
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    if a.json:
        import torch

        meta = {"torch": torch.__version__, "threads": a.threads, "device": a.device,
                "batch": a.batch, "length": a.length, "warmup": a.warmup, "steps": a.steps,
                "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                "loadavg_before": load_before, "loadavg_after": load_after}
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "results": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
