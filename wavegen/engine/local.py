"""Local conditioning as the engines check and read it: one place for the rules every engine
shares (which table an engine accepts, where its plan ends, which frame a position reads).

The table itself is :class:`~wavegen.models.weights.LocalBias`: (B, F, L, G) per-frame gate
biases and a hop; step ``n`` of an engine reads frame ``n // hop``.
"""

from __future__ import annotations

import torch

from wavegen.errors import WavegenError
from wavegen.models.weights import LocalBias, WaveNetWeights


def _same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two devices are the same one (``cuda`` means the current CUDA device)."""
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    current = torch.cuda.current_device()
    return (current if a.index is None else a.index) == (current if b.index is None else b.index)


def checked_local(local: object, w: WaveNetWeights, rows: int,
                  device: torch.device) -> LocalBias:
    """The table an engine of ``rows`` batch rows on ``device`` may read, as float32.

    Raises:
        WavegenError: not a LocalBias, a table on another device (it is not moved: a copy
            per call would hide a plan kept on the wrong device), a table of another shape
            than (rows, frames, L, G), or one holding inf or NaN.
    """
    if not isinstance(local, LocalBias):
        raise WavegenError("local conditioning must be a LocalBias (table, hop), got "
                           f"{type(local).__name__}")
    if not _same_device(local.table.device, device):
        raise WavegenError(f"local conditioning table is on {local.table.device}, the engine "
                           f"runs on {device}: move it with local.to({str(device)!r})")
    if not local.table.is_floating_point():
        raise WavegenError(f"local conditioning table must be float, got {local.table.dtype}")
    local.check(w, rows)
    return local if local.table.dtype == torch.float32 else local.to(device)


def check_steps(local: LocalBias | None, t: int, n: int) -> None:
    """Raise WavegenError (``LocalBias.frame``'s message) unless steps ``t .. t + n - 1`` lie
    inside the plan; nothing to check without local conditioning."""
    if local is not None and n > 0:
        local.frame(t + n - 1)


def check_plan_covers(local: LocalBias | None, steps: int, what: str) -> None:
    """Refuse, before any work, a plan shorter than the ``steps`` a call will take (``what``
    says which: primer and samples, or teacher-forced codes)."""
    if local is not None and steps > local.n_samples:
        raise WavegenError(f"the plan covers {local.n_samples} samples ({local.n_frames} frames "
                           f"of {local.hop}) but {what} take {steps} steps: give a longer plan "
                           "or fewer samples")


def local_positions(local: LocalBias, n_steps: int, offset: int = 0) -> torch.Tensor:
    """The bias of each of ``n_steps`` positions from step ``offset``: (B, T, L, G), for the
    parallel forward (:func:`wavegen.engine.reference.forward_weights`)."""
    check_steps(local, offset, n_steps)
    steps = torch.arange(offset, offset + n_steps, device=local.table.device)  # (T,)
    return local.table[:, torch.div(steps, local.hop, rounding_mode="floor")]  # (B, T, L, G)
