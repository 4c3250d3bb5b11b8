"""Compile the Triton kernels for an NVIDIA GPU without one: the check that the GPU code is
valid Triton for the target (the CPU interpreter runs the kernels' Python, not the compiler),
and the kernels' register, spill and shared-memory figures for the speed model.

Uses Triton's ahead-of-time path (``triton.compile`` on an ``ASTSource`` with a
``GPUTarget``) and the ``ptxas`` bundled with Triton's wheel for the resource report.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

# Pointer arguments of the kernels and their element types; other arguments are int32 except
# the sampling scalars.
_POINTERS = dict.fromkeys(
    "embed wd gb ws wr rb sb o1 o1b o2 o2b queue lb act skipbuf scratch logits_out uniforms"
    .split(),
    "*fp32")
_POINTERS.update({"dil": "*i64", "qoff": "*i64", "codebuf": "*i64", "flags": "*i32",
                  "inputs": "*i64", "codes_out": "*i64"})
_FLOATS = {"temperature": "fp32", "top_p": "fp32", "guidance": "fp32"}


def _kernel(name: str):
    if name == "tile":
        from wavegen.engine.triton_kernels import wavenet_steps
        return wavenet_steps
    if name == "persistent":
        from wavegen.engine.triton_persistent import wavenet_persistent
        return wavenet_persistent
    raise ValueError(f"unknown kernel '{name}'; known: tile, persistent")


def compile_kernel(name: str, constexprs: dict, num_warps: int = 8, arch: int = 90) -> dict:
    """Compile kernel ``tile`` or ``persistent`` for ``sm_<arch>`` with the given constexpr
    values (TEACHER, GUIDED, TOP_P, [SERIAL,] BM, BR, BH, BS, BA; LOCAL, the local-conditioning
    load, is False unless given).

    Returns:
        ``registers`` per thread, ``stack_bytes`` per thread (local memory, spills
        included), ``spill_store_bytes``, ``shared_bytes`` per program, ``num_warps``.

    Raises:
        triton.CompilationError (or another compiler error): the kernel is not valid Triton
        for the target.
    """
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    fn = _kernel(name)
    constexprs = {"LOCAL": False, **constexprs}
    signature = {arg: "constexpr" if arg in constexprs else _POINTERS.get(arg, _FLOATS.get(
        arg, "i32")) for arg in fn.arg_names}
    src = ASTSource(fn=fn, signature=signature,
                    constexprs={(fn.arg_names.index(k),): v for k, v in constexprs.items()})
    compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32),
                              options={"num_warps": num_warps})
    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    with tempfile.TemporaryDirectory() as tmp:
        ptx = Path(tmp) / "kernel.ptx"
        ptx.write_text(compiled.asm["ptx"])
        report = subprocess.run([str(ptxas), "-v", f"--gpu-name=sm_{arch}a", str(ptx), "-o",
                                 str(Path(tmp) / "kernel.cubin")],
                                capture_output=True, text=True, check=True).stderr

    def number(pattern: str) -> int:
        found = re.search(pattern, report)
        return int(found.group(1)) if found else 0

    return {"registers": number(r"Used (\d+) registers"),
            "stack_bytes": number(r"(\d+) bytes stack frame"),
            "spill_store_bytes": number(r"(\d+) bytes spill stores"),
            "shared_bytes": int(compiled.metadata.shared), "num_warps": num_warps}
