"""Training-step speed and peak memory of the WaveNet implementations, in one run.

    python benchmarks/train_step.py                          # BENCH, batch 4 x 8000, 2 threads
    python benchmarks/train_step.py --rounds 3 --json out.json

Variants: ``baseline`` (a straightforward WaveNet written the usual way,
``baseline_wavenet.py``: one-hot input, ``nn.Conv1d`` with ``dilation`` per layer, separate
residual and skip 1x1s), wavegen's ``reference`` layers, the ``fused`` path in its memory modes
(``fused`` runs the gate's element-wise work as wavegen/models/gate.py decides: compiled loops
on CUDA, eager ops on the CPU; ``fused-eager-gate`` and ``fused-compiled-gate`` force one or
the other), and ``-bf16`` columns (the same step under bf16
autocast: fp32 master weights, fp32 loss).
The bf16 variants run by default only where bf16 has hardware (a CUDA GPU, or a CPU with
AVX-512 BF16 or AMX); elsewhere bf16 products are emulated and many times slower, and the
script says so instead of spending minutes on them (name them in ``--variants`` to measure).

Each measurement runs in a fresh child process: warm-up steps, then timed steps of forward +
cross-entropy + backward + Adam. Rounds alternate the variants (round 1: every variant once,
then round 2, ...), so a change in machine load hits all of them alike; the reported samples/s
is the median over rounds of each round's median step (``vs base``); ``best`` compares the
fastest single steps, which a busy or shared machine disturbs least. Peak memory is the growth
of the child's peak resident set size over its baseline after building the model, the optimizer
and the batch (so activations, gradients and optimizer state). glibc keeps freed blocks of up
to 32 MiB in its heap, so that growth depends on allocation order as much as on tensor sizes;
the peak memory column therefore comes from one more child (one warm-up and one step) with
``MALLOC_MMAP_THRESHOLD_`` fixed at 1 MiB, where every larger tensor is its own mapping and the
resident set follows the live tensors. The default allocator's number is reported as ``RSS
MB``. On CUDA peak memory is ``torch.cuda.max_memory_allocated``. Ratios are relative to
``baseline``. The machine facts (CPU model, ISA flags, measured fp32 and bf16 matmul peaks) are
printed above the table and stored in the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

VARIANTS = {
    # name: (network, WaveNet execution settings, autocast dtype or None)
    "baseline": ("baseline", {}, None),
    "reference": ("wavegen", {"impl": "reference"}, None),
    "fused-store": ("wavegen", {"impl": "fused", "recompute_gate": False}, None),
    "fused": ("wavegen", {"impl": "fused", "recompute_gate": True}, None),
    "fused-checkpoint": ("wavegen", {"impl": "fused", "checkpoint_activations": True}, None),
    "fused-eager-gate": ("wavegen", {"impl": "fused", "recompute_gate": True}, None),
    "fused-compiled-gate": ("wavegen", {"impl": "fused", "recompute_gate": True}, None),
    "baseline-bf16": ("baseline", {}, "bf16"),
    "fused-bf16": ("wavegen", {"impl": "fused", "recompute_gate": True}, "bf16"),
}
DEFAULT_VARIANTS = ["baseline", "reference", "fused", "fused-store", "baseline-bf16",
                    "fused-bf16"]


def run_variant(name: str, a: argparse.Namespace) -> dict:
    """Measure one variant in this process (the child side)."""
    import torch
    import torch.nn.functional as F
    from baseline_wavenet import BaselineWaveNet

    from wavegen.bench import CONFIGS
    from wavegen.models.wavenet import WaveNet

    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    network, overrides, low = VARIANTS[name]
    if name.endswith("-gate"):  # the gate's element-wise work: eager ops or compiled loops
        from wavegen.models import gate

        gate.MODE = name.split("-")[1]
    cfg = CONFIGS["BENCH"][0]
    torch.manual_seed(0)
    model = WaveNet(cfg, **overrides)
    if network == "baseline":
        model = BaselineWaveNet(cfg).load_from(model)
    model = model.to(device).train()
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if low == "bf16"
                else contextlib.nullcontext())
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(1)
    codes = torch.randint(0, cfg.n_classes, (a.batch, a.length + 1), generator=gen).to(device)
    cond = torch.eye(cfg.n_cond)[torch.arange(a.batch) % cfg.n_cond].to(device)  # (B, C)

    def step() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
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


def choose_variants(asked: list[str] | None, device: str,
                    bf16_units: bool) -> tuple[list[str], str | None]:
    """The variants to run and, when bf16 ones were left out, why."""
    if asked:
        return asked, None
    if bf16_units or device.startswith("cuda"):
        return list(DEFAULT_VARIANTS), None
    return ([v for v in DEFAULT_VARIANTS if not v.endswith("-bf16")],
            "bf16 variants skipped: this CPU has no bf16 units (no avx512_bf16 or amx_bf16), "
            "so bf16 products are emulated; name them in --variants to measure anyway")


def summarize(name: str, timed: list[dict], mem: dict | None) -> dict:
    """One table row from the rounds of a variant."""
    row = {"variant": name, "rounds": len(timed),
           "step_s_median": statistics.median(r["step_s_median"] for r in timed),
           "step_s_min": min(r["step_s_min"] for r in timed),
           "step_s_rounds": [r["step_s_median"] for r in timed],
           "peak_mem_mb": max(r["peak_mem_mb"] for r in timed)}
    row["samples_per_s"] = timed[0]["samples"] / row["step_s_median"]
    if "gemm_share" in timed[0]:
        row["gemm_share"] = statistics.median(r["gemm_share"] for r in timed)
    if mem is not None:
        row["rss_mb"] = row["peak_mem_mb"]
        row["peak_mem_mb"] = mem["peak_mem_mb"]
    return row


def _ratio(value: float | None, base: float | None) -> float | None:
    """value / base, or None when either is missing or the base is not positive (a run too
    small for the memory counters to move reports 0 MB)."""
    if value is None or base is None or not base > 0:
        return None
    return value / base


def _fmt(value: float | None, width: int, suffix: str = "", digits: int = 2) -> str:
    """A right-aligned table cell; ``-`` for a missing value."""
    if value is None:
        return f"{'-':>{width}}" + " " * len(suffix)
    return f"{value:>{width}.{digits}f}{suffix}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=None, choices=list(VARIANTS),
                   help=f"default: {' '.join(DEFAULT_VARIANTS)} (bf16 ones only where bf16 "
                   "has hardware)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--length", type=int, default=8000, help="samples per segment")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5, help="timed steps per round (median)")
    p.add_argument("--rounds", type=int, default=3, help="alternated rounds of all variants")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--profile", action="store_true",
                   help="also report the share of step time in GEMMs and convolutions")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        row = run_variant(a.child, a)
        row["samples"] = a.batch * a.length
        print(json.dumps(row))
        return
    import torch

    from wavegen.machine import cpu_has_bf16_units, describe, machine_facts

    torch.set_num_threads(a.threads)
    facts = machine_facts(a.device, a.threads)
    variants, skipped = choose_variants(a.variants, a.device,
                                        cpu_has_bf16_units(facts["cpu"]))  # type: ignore[arg-type]
    load_before = os.getloadavg()
    timed: dict[str, list[dict]] = {v: [] for v in variants}
    for _ in range(a.rounds):
        for name in variants:
            timed[name].append(_child(name, a, a.warmup, a.steps, env=None))
    rows = []
    for name in variants:
        mem = None
        if a.device == "cpu":
            env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20)}
            mem = _child(name, a, 1, 1, env=env)
        rows.append(summarize(name, timed[name], mem))
    base = next((r for r in rows if r["variant"] == "baseline"), None)
    print(describe(facts))
    print(f"BENCH, batch {a.batch} x {a.length} samples, {a.threads} threads, {a.device}, "
          f"{a.rounds} alternated rounds of {a.warmup} warm-up + {a.steps} timed steps "
          "(median of round medians)")
    if skipped:
        print(skipped)
    print(f"{'variant':>19} {'samples/s':>10} {'vs base':>8} {'best':>6} {'peak MB':>8} "
          f"{'ratio':>6} {'RSS MB':>7} {'ratio':>6}")
    for r in rows:
        r["speedup"] = _ratio(r["samples_per_s"], base and base["samples_per_s"])
        r["mem_ratio"] = _ratio(r["peak_mem_mb"], base and base["peak_mem_mb"])
        r["rss_ratio"] = _ratio(r.get("rss_mb"), base and base.get("rss_mb"))
        r["best_speedup"] = _ratio(base and base["step_s_min"], r["step_s_min"])
        print(f"{r['variant']:>19} {r['samples_per_s']:>10,.0f} {_fmt(r['speedup'], 7, 'x')} "
              f"{_fmt(r['best_speedup'], 5, 'x')} {r['peak_mem_mb']:>8.0f} "
              f"{_fmt(r['mem_ratio'], 6)} {_fmt(r.get('rss_mb'), 7, digits=0)} "
              f"{_fmt(r['rss_ratio'], 6)}"
              + (f"  GEMM/conv {r['gemm_share']:.0%} of op time" if "gemm_share" in r else ""))
    load_after = os.getloadavg()
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    if a.json:
        meta = {"machine": facts, "threads": a.threads, "device": a.device, "batch": a.batch,
                "length": a.length, "warmup": a.warmup, "steps": a.steps, "rounds": a.rounds,
                "skipped": skipped, "loadavg_before": load_before, "loadavg_after": load_after}
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "results": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
