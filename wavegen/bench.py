"""``wavegen bench``: generation speed of each engine against the machine's fp32 peak.

For a named config (``BENCH``: the nv-wavenet benchmark shape) or a model file, each engine
generates from a batch of genre one-hots after a warm-up run (which also compiles kernels);
the median wall time of the repeats gives aggregate samples/s, the real-time factor and the
fraction of the fp32 matmul peak, measured in the same run with a large ``torch.mm`` on all
cores. Each point is also measured with local conditioning (a random plan, hop 160): every
round times a run without and one with (in alternating order), and the ratio reported is the
median of the rounds' speed ratios, so slow drifts of a shared machine cancel.
``samples`` is the aggregate count per timed run (split over the batch rows). The
reference engine recomputes the receptive field per sample and the cached engine runs
per-layer torch calls, so they get fewer samples (their rate does not depend on length); the
reference is timed with a full receptive field of history, its steady state.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch

from wavegen.engine import ENGINES, build_engine, generate, resolve_engine, sample_from_logits
from wavegen.engine.cpu import CpuEngine, available_cores
from wavegen.engine.reference import ReferenceEngine
from wavegen.errors import WavegenError
from wavegen.machine import cpu_info
from wavegen.models.io import load_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.models.weights import LocalBias, WaveNetWeights
from wavegen.progress import progress

CONFIGS = {
    # 20 layers as 2 x dilations 1..512, R=64, gate 128, skip 128, 256 classes, 10 genres.
    "BENCH": (WaveNetConfig(n_classes=256, residual_channels=64, gate_channels=128,
                            skip_channels=128, n_layers=20, dilation_cycle=10, n_cond=10),
              16000),
}
# Reduced-precision variants, measured by name but never registered (not exact).
REDUCED = {"cpu-bf16": lambda w, cond, local=None: CpuEngine(w, cond, local, precision="bf16")}
# Samples per run of the slow engines, at most.
SLOW_ENGINE_SAMPLES = {"reference": 6, "cached": 400}
PLAN_HOP = 160  # samples per frame of the plan the local-conditioning column runs with


def bench_plan(w: WaveNetWeights, batch: int, steps: int,
               device: torch.device | str = "cpu") -> LocalBias:
    """A random plan (batch, frames, L, G) of hop ``PLAN_HOP`` covering ``steps`` steps."""
    gen = torch.Generator().manual_seed(1)
    frames = -(-steps // PLAN_HOP)
    table = 0.1 * torch.randn(batch, frames, w.n_layers, w.gate_channels, generator=gen)
    return LocalBias(table.to(device), PLAN_HOP)


def flops_per_sample(w: WaveNetWeights) -> int:
    """Multiply-adds x 2 of one generated sample (conditioning projected once: excluded)."""
    L, R, G, S, A = (w.n_layers, w.residual_channels, w.gate_channels, w.skip_channels,
                     w.n_classes)
    H = G // 2
    macs = L * (G * 2 * R + H * S) + (L - 1) * H * R + S * S + A * S
    return 2 * macs


def matmul_peak_flops(size: int = 2048, seconds: float = 1.0,
                      device: torch.device | str = "cpu") -> float:
    """fp32 FLOP/s of a large square ``torch.mm`` on all usable cores, or on the GPU (best of a
    few runs)."""
    if torch.device(device).type == "cuda":
        return _cuda_matmul_peak(8192, seconds, torch.device(device))
    threads = torch.get_num_threads()
    torch.set_num_threads(available_cores())
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        torch.mm(a, b)
        best, end = 0.0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * size**3 / (time.perf_counter() - start))
        return best
    finally:
        torch.set_num_threads(threads)


def _cuda_matmul_peak(size: int, seconds: float, device: torch.device) -> float:
    """fp32 FLOP/s of a square ``torch.mm`` on a CUDA device (TF32 as torch is set up for)."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)
    torch.cuda.synchronize(device)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        torch.mm(a, b)
        torch.cuda.synchronize(device)
        best = max(best, 2 * size**3 / (time.perf_counter() - start))
    return best


def load_config(config: str) -> tuple[WaveNetWeights, int, str]:
    """A named config (random weights, seeded) or a model file -> (weights, rate, label)."""
    if config in CONFIGS:
        cfg, rate = CONFIGS[config]
        torch.manual_seed(0)
        return WaveNet(cfg).eval().export_weights(), rate, config
    if not Path(config).exists():
        raise WavegenError(f"unknown config '{config}': give one of {', '.join(CONFIGS)} "
                           "or a model file")
    model, info = load_model(config)
    return model.export_weights(), info.sample_rate, str(config)


@torch.inference_mode()
def _time_reference(w: WaveNetWeights, cond: torch.Tensor, n: int,
                    plan: LocalBias | None) -> float:
    """Seconds for n reference steps (with sampling) from a full receptive field of history
    (with a plan: its first frames are that history's)."""
    eng = cast(ReferenceEngine, build_engine(w, cond, "reference", local=plan))
    past = w.receptive_field - 1
    eng.history = torch.randint(0, w.n_classes, (cond.shape[0], past))
    eng.cond_history = cond[:, None].expand(-1, past, -1)
    if plan is not None:
        eng.local_history = plan.table[:, torch.arange(past) // plan.hop]  # (B, RF - 1, L, G)
        eng.t = past
    prev = torch.zeros(cond.shape[0], dtype=torch.long)
    start = time.perf_counter()
    for _ in range(n):
        prev = sample_from_logits(eng.step(prev), torch.rand(cond.shape[0]))
    return time.perf_counter() - start


def _timed_run(w: WaveNetWeights, engine: str, cond: torch.Tensor, device: torch.device | str,
               plan: LocalBias | None) -> Callable[[int, int], float]:
    """(n samples, seed) -> seconds of one run of ``engine`` (with ``plan`` if given)."""
    if engine == "reference":
        return lambda n, seed: _time_reference(w, cond, n, plan)
    if engine in REDUCED:
        def reduced(n: int, seed: int) -> float:
            prev = torch.zeros(cond.shape[0], dtype=torch.long)
            u = torch.rand(cond.shape[0], n, generator=torch.Generator().manual_seed(seed))
            start = time.perf_counter()
            REDUCED[engine](w, cond, plan).run(prev, u)
            return time.perf_counter() - start
        return reduced

    def fused(n: int, seed: int) -> float:  # generate returns CPU tensors: the GPU has finished
        start = time.perf_counter()
        generate(w, cond, n, engine=engine, seed=seed, chunk_size=n, device=device, local=plan)
        return time.perf_counter() - start
    return fused


def time_engine(w: WaveNetWeights, engine: str, batch: int, n: int, repeats: int,
                device: torch.device | str = "cpu") -> tuple[float, float, float]:
    """Seconds to generate n samples for ``batch`` rows without and with a plan (medians),
    and the median over rounds of their ratio (without / with: the relative speed with a
    plan). Each after one warm-up run; a round times both, in alternating order, so the
    ratio compares neighbours in time (the reference and reduced-precision engines run on
    the CPU)."""
    cond = torch.eye(w.n_cond)[torch.arange(batch) % w.n_cond]  # (B, C) genre one-hots
    on = "cpu" if engine in CPU_ONLY_ENGINES else device
    # The plan covers the run (a clip's plan covers the clip; the reference's also covers
    # the receptive field of history it starts from).
    plan = bench_plan(w, batch, n + (w.receptive_field if engine == "reference" else 0), on)
    runs = [_timed_run(w, engine, cond, device, None), _timed_run(w, engine, cond, device, plan)]
    for run in runs:
        run(min(n, 256), 0)
    times: list[list[float]] = [[], []]
    for r in range(repeats):
        for i in (0, 1) if r % 2 == 0 else (1, 0):  # alternate who goes first
            times[i].append(runs[i](n, r + 1))
    ratio = statistics.median(a / b for a, b in zip(*times, strict=True))
    return statistics.median(times[0]), statistics.median(times[1]), ratio


GPU_ENGINES = ("triton", "graph")  # on the CPU measured only when named: built for CUDA
CPU_ONLY_ENGINES = ("reference", "cpu", *REDUCED)  # they run on the CPU whatever the device


def default_engines(device: torch.device) -> list[str]:
    """The engines ``wavegen bench`` measures when none are named: the CPU ones on the CPU;
    on CUDA the GPU engines and the per-layer ``cached`` one."""
    if device.type == "cuda":
        return [e for e in ENGINES if e in GPU_ENGINES or e == "cached"]
    return [e for e in ENGINES if e not in GPU_ENGINES]


def run_bench(config: str = "BENCH", engines: list[str] | None = None,
              batches: tuple[int, ...] = (1, 16), samples: int = 32000, repeats: int = 5,
              json_path: str | None = None, device: str | torch.device = "cpu") -> dict:
    """Measure every engine x batch on ``device``; print a table; optionally write JSON.
    Returns the dict."""
    device = torch.device(device)
    w, rate, label = load_config(config)
    names = [e if e in REDUCED else resolve_engine(e)
             for e in (engines or default_engines(device))]
    if device.type == "cuda" and (cpu_only := [e for e in names if e in CPU_ONLY_ENGINES]):
        raise WavegenError(f"engine(s) {', '.join(cpu_only)} run on the CPU only; measure them "
                           "with --device cpu")
    peak = matmul_peak_flops(device=device)
    flops = flops_per_sample(w)
    rows = []
    bar = progress(total=len(names) * len(batches), desc="bench", unit="point")
    for name in names:
        for batch in batches:
            n = max(1, min(samples // batch, SLOW_ENGINE_SAMPLES.get(name, samples)))
            secs, secs_local, ratio = time_engine(w, name, batch, n, repeats, device)
            rate_agg = batch * n / secs
            rows.append({"engine": name, "batch": batch, "samples": n,
                         "samples_per_s": rate_agg, "realtime_factor": rate_agg / rate,
                         "fraction_of_peak": rate_agg * flops / peak,
                         "local_samples_per_s": batch * n / secs_local,
                         "local_ratio": ratio})
            bar.update(1)
    bar.close()
    meta = {"config": label, "sample_rate": rate, "flops_per_sample": flops,
            "weight_bytes_per_sample": w.nbytes(), "fp32_matmul_peak_gflops": peak / 1e9,
            "cores": available_cores(), "torch": torch.__version__, "device": str(device),
            "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                            else platform.processor() or platform.machine()),
            "machine": platform.machine(), "processor": platform.processor(),
            "cpu": cpu_info(), "repeats": repeats, "local_hop": PLAN_HOP}
    print(format_table(rows, meta))
    result = {"meta": meta, "results": rows}
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1) + "\n")
    return result


def format_table(rows: list[dict], meta: dict) -> str:
    lines = [f"config {meta['config']}: {meta['flops_per_sample'] / 1e6:.2f} MFLOP and "
             f"{meta['weight_bytes_per_sample'] / 1e6:.2f} MB of weights per sample; fp32 "
             f"matmul peak {meta['fp32_matmul_peak_gflops']:.1f} GFLOP/s on "
             + (f"{meta['cores']} cores" if meta.get("device", "cpu") == "cpu"
                else meta["device_name"]),
             f"{'engine':>10} {'batch':>5} {'samples/s':>11} {'x realtime':>10} {'of peak':>8} "
             f"{'with plan':>11} {'ratio':>6}"]
    for r in rows:
        lines.append(f"{r['engine']:>10} {r['batch']:>5} {r['samples_per_s']:>11,.0f} "
                     f"{r['realtime_factor']:>10.2f} {r['fraction_of_peak']:>8.1%} "
                     f"{r['local_samples_per_s']:>11,.0f} {r['local_ratio']:>6.3f}")
    return "\n".join(lines)
