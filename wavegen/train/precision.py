"""Which precision a training run computes in: ``train.mixed_precision`` resolved for the
machine at hand.

``auto`` picks bf16 autocast where bf16 products have hardware (a CUDA GPU that supports bf16,
or a CPU with AVX-512 BF16 or AMX) and float32 elsewhere: without bf16 units a CPU emulates
bf16 products and runs them many times slower than float32 (see docs/training.md). ``no``,
``bf16`` and ``fp16`` are taken as asked; bf16 on a CPU without bf16 units runs, with a
warning, and fp16 is refused on the CPU (autocast has no CPU fp16 path worth training with).
Weights, optimizer state, the loss and checkpoints are float32 in every mode.
"""

from __future__ import annotations

import logging

import torch

from wavegen.errors import WavegenError
from wavegen.machine import BF16_UNIT_FLAGS, cpu_has_bf16_units, cpu_info

log = logging.getLogger(__name__)

SETTINGS = ("auto", "no", "bf16", "fp16")


def resolve_precision(setting: str, device_type: str,
                      cpu: dict[str, object] | None = None) -> tuple[str, str]:
    """``train.mixed_precision`` for a device type (``cpu`` or ``cuda``) -> (``no`` / ``bf16``
    / ``fp16`` as accelerate takes it, why). ``cpu``: the facts of :func:`cpu_info` (read
    from this machine when None).

    Raises:
        WavegenError: an unknown setting, or fp16 on the CPU.
    """
    if setting not in SETTINGS:
        raise WavegenError(f"train.mixed_precision must be one of {', '.join(SETTINGS)}, got "
                           f"{setting!r}")
    on_gpu = device_type == "cuda"
    if setting == "fp16" and not on_gpu:
        raise WavegenError("train.mixed_precision: fp16 needs a CUDA GPU; on the CPU use auto "
                           "(bf16 where the CPU has bf16 units) or no")
    units = (not on_gpu) and cpu_has_bf16_units(cpu or cpu_info())
    if setting == "auto":
        if on_gpu and torch.cuda.is_bf16_supported():
            return "bf16", "auto: the GPU has bf16 units"
        if units:
            return "bf16", f"auto: the CPU has bf16 units ({' or '.join(BF16_UNIT_FLAGS)})"
        return "no", ("auto: float32, the GPU has no bf16 units" if on_gpu else
                      "auto: float32, this CPU has no bf16 units (bf16 would be emulated, "
                      "many times slower)")
    if setting == "bf16" and not on_gpu and not units:
        log.warning("train.mixed_precision: bf16 on a CPU without bf16 units (no %s): its "
                    "products are emulated and run many times slower than float32; use auto "
                    "or no", " or ".join(BF16_UNIT_FLAGS))
    return setting, "as configured"
