"""Machine facts written next to every benchmark figure."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from wavegen.machine import cpu_has_bf16_units, cpu_info, describe, machine_facts, matmul_gflops

SAPPHIRE = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C
flags\t\t: fpu avx2 fma avx512f avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8
"""
ZEN3 = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse avx2 fma
"""


def test_cpu_info_reads_model_and_isa_flags(tmp_path: Path) -> None:
    (tmp_path / "a").write_text(SAPPHIRE)
    (tmp_path / "b").write_text(ZEN3)
    a, b = cpu_info(tmp_path / "a"), cpu_info(tmp_path / "b")
    assert a["model"] == "Intel(R) Xeon(R) Platinum 8481C"
    assert a["isa"] == ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
                        "amx_bf16", "amx_int8"]
    assert cpu_has_bf16_units(a) and not cpu_has_bf16_units(b)
    assert b["isa"] == ["avx2", "fma"]


def test_missing_cpuinfo_still_gives_facts(tmp_path: Path) -> None:
    info = cpu_info(tmp_path / "absent")
    assert info["isa"] == [] and info["model"]


def test_matmul_peak_is_measured_and_described() -> None:
    assert matmul_gflops(torch.float32, m=256, k=32, n=32, seconds=0.02) > 0
    facts = machine_facts("cpu", threads=1, peaks=False)
    assert "matmul_gflops" not in facts
    facts["matmul_gflops"] = {"fp32": 264.0, "bf16": 2160.0}
    line = describe(facts)
    assert line.startswith("CPU ") and "1 threads" in line and "bf16 2,160 GFLOP/s" in line
    facts["matmul_gflops"] = {"fp32": 41.4, "bf16": 2.64}
    assert "matmul fp32 41 / bf16 2.6 GFLOP/s" in describe(facts)


def test_run_facts_name_the_command_code_and_date() -> None:
    from wavegen.machine import run_facts, source_commit

    facts = run_facts("cpu")
    assert facts["device"] == "cpu" and facts["date"].endswith("UTC") and facts["command"]
    commit = source_commit()  # a git checkout here; None for an installed wheel
    assert commit is None or re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?", commit)
    assert facts["commit"] == commit
