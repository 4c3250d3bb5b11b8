"""The control rate: how often a moving setting (a morphing label, an automation track, a live
control) is read during generation. One rule for every caller (synth, live, the two levels of
a two-level model, the benchmarks): a live take renders again bit for bit only if they agree.
"""

from __future__ import annotations

CONTROL_RATE = 20  # reads per second: every 50 ms


def control_every(step_rate: float) -> int:
    """Steps between two reads at a level of ``step_rate`` steps per second (samples, or
    frames of a plan): ``max(1, int(step_rate) // CONTROL_RATE)``."""
    return max(1, int(step_rate) // CONTROL_RATE)
