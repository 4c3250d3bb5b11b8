"""The planner's alphabet: the K units of a tokenizer plus one start symbol.

A planner is a WaveNet whose steps are the frames of a plan (``docs/two_level.md``): it reads
and predicts codes in ``[0, K + 1)``. Every generation starts from the same first input, the
code the engines feed at step 0 (``silence_code(n_classes)``, the middle class); for a planner
that code is ``START``, "nothing known before this frame", and the units take the other K codes
in order::

    code(u) = u        for u <  START
    code(u) = u + 1    for u >= START

Training windows start with ``START`` too (:class:`wavegen.data.segments.PlanSegmentSampler`),
so a window's first frame is predicted from no history, as at the start of a generation. No
training target is ``START``, so a trained planner gives it a vanishing probability; a frame
sampled as ``START`` anyway (possible with top-p near 1) holds the unit of the frame before it
(:func:`fill_starts`), so every plan is a plan of units that a plan file can hold.
"""

from __future__ import annotations

import numpy as np
import torch

from wavegen.audio import silence_code


def start_code(n_units: int) -> int:
    """The start symbol's code in a planner over ``n_units`` units (K + 1 classes)."""
    return silence_code(n_units + 1)


def units_to_codes(units: np.ndarray | torch.Tensor, n_units: int) -> torch.Tensor:
    """Unit ids (..., F) in ``[0, K)`` -> the planner's codes (..., F) long."""
    u = torch.as_tensor(np.asarray(units) if not isinstance(units, torch.Tensor) else units)
    u = u.long()
    return u + (u >= start_code(n_units)).long()


def codes_to_units(codes: torch.Tensor, n_units: int) -> torch.Tensor:
    """The planner's codes (..., F) -> unit ids (..., F) long; ``START`` -> -1 (no unit)."""
    s = start_code(n_units)
    codes = codes.long()
    units = codes - (codes > s).long()
    return torch.where(codes == s, torch.full_like(units, -1), units)


def fill_starts(units: torch.Tensor) -> torch.Tensor:
    """Unit ids (B, F) with -1 where the planner drew ``START`` -> (B, F) in ``[0, K)``: each
    -1 holds the unit of the frame before it; leading -1s take the first unit drawn (a row
    of nothing but -1 becomes unit 0)."""
    out = units.clone()
    for row in out:
        known = (row >= 0).nonzero()
        if known.numel() == 0:
            row.zero_()
            continue
        row[:int(known[0])] = row[int(known[0])]
        for f in range(1, row.numel()):
            if row[f] < 0:
                row[f] = row[f - 1]
    return out
