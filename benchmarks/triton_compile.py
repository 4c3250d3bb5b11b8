"""Register, local-memory and shared-memory use of the Triton kernels, compiled for an H100.

    python benchmarks/triton_compile.py        # table + results/triton_compile.json

No GPU is needed: the kernels go through Triton's GPU compiler to PTX and through the ptxas
bundled with Triton (``wavegen.engine.triton_aot``). These figures, not timings, are what can
be measured without a GPU; docs/engines.md uses them in the speed model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wavegen.engine.triton_aot import compile_kernel

HERE = Path(__file__).parent
BENCH = {"BM": 16, "BR": 64, "BH": 64, "BS": 128, "BA": 256}  # R=64, H=64, S=128, A=256


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", type=int, default=90, help="compute capability, e.g. 90 (H100)")
    p.add_argument("--warps", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--json", default=str(HERE / "results" / "triton_compile.json"))
    args = p.parse_args()
    rows = []
    print(f"{'kernel':>10} {'mode':>8} {'warps':>5} {'regs':>5} {'stack B':>8} {'smem B':>8}")
    for kernel in ("persistent", "tile"):
        for mode in ("sample", "teacher"):
            flags = {"TEACHER": mode == "teacher", "GUIDED": False, "TOP_P": mode == "sample"}
            if kernel == "persistent":
                flags["SERIAL"] = False
            for warps in args.warps:
                info = compile_kernel(kernel, {**flags, **BENCH}, warps, args.arch)
                rows.append({"kernel": kernel, "mode": mode, **info})
                print(f"{kernel:>10} {mode:>8} {warps:>5} {info['registers']:>5} "
                      f"{info['stack_bytes']:>8} {info['shared_bytes']:>8}")
    Path(args.json).write_text(json.dumps({"arch": args.arch, "shape": BENCH, "results": rows},
                                          indent=1) + "\n")


if __name__ == "__main__":
    main()
