"""What a benchmark figure depends on: the CPU (model, ISA flags), the accelerator, and the
matrix-product peaks measured on the spot, in fp32 and bf16.

Speed ratios between implementations change with the CPU (a CPU with AMX runs bf16 products
several times faster than fp32; one without bf16 units runs them far slower), so every
benchmark writes these facts next to its numbers.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch

# Flags that decide which GEMM kernels run (x86 names as in /proc/cpuinfo).
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_bf16", "amx_int8")
BF16_UNIT_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_info(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> dict[str, object]:
    """CPU model name, the relevant ISA flags present, and core counts."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return {"model": model, "isa": [f for f in ISA_FLAGS if f in flags],
            "cpu_count": os.cpu_count(), "torch_cpu_capability": _capability()}


def _capability() -> str:
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):  # pragma: no cover - older torch
        return "unknown"


def cpu_has_bf16_units(info: dict[str, object] | None = None) -> bool:
    """True when the CPU multiplies bf16 natively (AVX-512 BF16 or AMX)."""
    isa = (info or cpu_info())["isa"]
    return any(f in isa for f in BF16_UNIT_FLAGS)  # type: ignore[operator]


def matmul_gflops(dtype: torch.dtype, device: str = "cpu", m: int = 32000, k: int = 64,
                  n: int = 128, seconds: float = 0.3) -> float:
    """Measured GFLOP/s of an (m, k) x (k, n) product, the shape of a training GEMM (time x
    batch rows, residual to gate channels). Runs for about ``seconds`` after a warm-up."""
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    a @ b
    sync()
    start, runs = time.perf_counter(), 0
    while True:
        a @ b
        runs += 1
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return 2.0 * m * k * n * runs / elapsed / 1e9


def machine_facts(device: str = "cpu", threads: int | None = None,
                  peaks: bool = True) -> dict[str, object]:
    """Everything a benchmark row depends on, as one JSON-ready dict."""
    facts: dict[str, object] = {"cpu": cpu_info(), "torch": torch.__version__,
                                "threads": threads or torch.get_num_threads(),
                                "device": device, "platform": platform.platform()}
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(device)
        facts["gpu"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                        "memory_gib": round(props.total_memory / 2**30, 1)}
    if peaks:
        facts["matmul_gflops"] = {"fp32": round(matmul_gflops(torch.float32, device), 1),
                                  "bf16": round(matmul_gflops(torch.bfloat16, device), 1)}
    return facts


def _gflops(value: float) -> str:
    """A GFLOP/s figure: whole numbers from 10 up, one decimal below (emulated bf16 is ~2)."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def describe(facts: dict[str, object]) -> str:
    """One line for the top of a benchmark table."""
    cpu = facts["cpu"]
    parts = [f"CPU {cpu['model']} ({cpu['cpu_count']} logical)",  # type: ignore[index]
             "ISA " + (" ".join(cpu["isa"]) or "none listed"),  # type: ignore[index]
             f"{facts['threads']} threads", f"torch {facts['torch']}"]
    if "gpu" in facts:
        parts.insert(0, f"GPU {facts['gpu']['name']}")  # type: ignore[index]
    if "matmul_gflops" in facts:
        p = facts["matmul_gflops"]
        parts.append(f"matmul fp32 {_gflops(p['fp32'])} / bf16 {_gflops(p['bf16'])} GFLOP/s")  # type: ignore[index]
    return ", ".join(parts)


def source_commit() -> str | None:
    """The git commit of the wavegen source in use (with ``-dirty`` for uncommitted changes),
    or None when it is not a git checkout (an installed wheel)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty",
                              "--abbrev=12"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_facts(device: str = "cpu") -> dict[str, object]:
    """Who made a result, where and when: the command line, wavegen's version and commit,
    torch, the device, the UTC date. Written next to trained models and shown in reports."""
    import datetime
    import sys

    from wavegen import __version__

    return {"command": " ".join(sys.argv), "wavegen": __version__, "commit": source_commit(),
            "torch": torch.__version__, "device": device,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
