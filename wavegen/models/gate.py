"""The element-wise work of the fused training path's gate, eager or compiled into one loop.

With the GEMMs of a residual layer at the machine's matmul peak, what is left of a training
step is this element-wise work: the conditioning bias and the sigmoid in forward, the gate
output ``h`` (recomputed in backward) and the gate's backward with the conditioning gradient.
Eagerly each is a chain of separate passes over (N, G) arrays (the backward alone is seven);
``torch.compile`` turns each into one vectorized loop (C++ with OpenMP on the CPU, a Triton
kernel on CUDA) that reads its inputs once and writes its outputs once.

Which one runs is ``MODE``: ``auto`` (the default) compiles on CUDA only, where each eager op
is a separate kernel launch and a round trip through GPU memory. On the CPU the compiled loops
were measured to save about 1% of a training step (BENCH, 2 threads; docs/training.md), less
than the seconds that compiling costs, so ``auto`` keeps the eager ops there. ``compiled``
compiles on every device, ``eager`` never does. Either way the compiled loops serve only large
activations (``COMPILE_MIN_ELEMENTS``), not the tiny models of tests and quick runs, and a
platform where compiling fails (no C++ compiler) falls back to the eager ops with one warning.

Notation as in ``fused.py``: N = T * B rows, G = 2 H gate channels; the tanh half is stored as
``2 a`` so that ``tanh(a) = 2 sigmoid(2 a) - 1`` and one sigmoid serves both halves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

log = logging.getLogger(__name__)

# (N, G) elements from which the compiled loops are used: 2^20 is 8,192 rows of 128 gate
# channels (batch 4 x 2,048 samples), where one eager pass takes about a millisecond.
COMPILE_MIN_ELEMENTS = 1 << 20
MODES = ("auto", "compiled", "eager")
MODE = "auto"  # auto (compiled on CUDA), compiled (on every device) or eager
_compiled: dict[str, Callable] = {}


def _frames(x: torch.Tensor, B: int,
            hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows (t, b) of ``x`` (N, C) grouped by frame of ``hop`` time steps, as views: (the
    whole frames (Q, hop, B, C), the rows of the last, partial one (T - Q * hop, B, C))."""
    xt = x.view(-1, B, x.shape[1])  # (T, B, C)
    whole = xt.shape[0] // hop
    return xt[:whole * hop].view(whole, hop, B, x.shape[1]), xt[whole * hop:]


def _frame_sums(g_z: torch.Tensor, B: int, hop: int) -> torch.Tensor:
    """g_z (N, G) summed over the time steps of each frame -> (F, B, G)."""
    whole, part = _frames(g_z, B, hop)
    sums = whole.sum(1)  # (Q, B, G)
    return torch.cat([sums, part.sum(0, keepdim=True)]) if part.shape[0] else sums


def _forward(z: torch.Tensor, bias: torch.Tensor, B: int,
             hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    G = z.shape[1]
    whole, part = _frames(z, B, hop)
    n = whole.shape[0]
    pre = torch.cat([(whole + bias[:n, None]).view(-1, B, G), part + bias[n:]])  # (T, B, G)
    s = torch.sigmoid(pre).view(-1, G)
    return s, (2 * s[:, :G // 2] - 1) * s[:, G // 2:]


def _output(s: torch.Tensor) -> torch.Tensor:
    H = s.shape[1] // 2
    return (2 * s[:, :H] - 1) * s[:, H:]


def _backward(g_h: torch.Tensor, s: torch.Tensor, B: int,
              hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    H = s.shape[1] // 2
    s_a, s_b = s[:, :H], s[:, H:]
    g_a = 2 * g_h * s_b * s_a * (1 - s_a)
    g_b = g_h * (2 * s_a - 1) * s_b * (1 - s_b)
    g_z = torch.cat([g_a, g_b], dim=1)
    return g_z, _frame_sums(g_z, B, hop)


def _eager_forward(z: torch.Tensor, bias: torch.Tensor, B: int,
                   hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    whole, part = _frames(z, B, hop)
    whole.add_(bias[:whole.shape[0], None])
    part.add_(bias[whole.shape[0]:])
    s = z.sigmoid_()
    return s, _eager_output(s)


def _eager_output(s: torch.Tensor) -> torch.Tensor:
    H = s.shape[1] // 2
    return torch.mul(s[:, :H], 2).sub_(1).mul_(s[:, H:])


def _eager_backward(g_h: torch.Tensor, s: torch.Tensor, B: int,
                    hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    H = s.shape[1] // 2
    s_a, s_b = s[:, :H], s[:, H:]
    # d h / d(2a) = s_b * 2 s_a (1 - s_a);  d h / d b = tanh_a * s_b (1 - s_b).
    g_z = torch.empty_like(s)  # (N, G)
    torch.mul(torch.mul(g_h, s_b).mul_(2), torch.addcmul(s_a, s_a, s_a, value=-1),
              out=g_z[:, :H])
    torch.mul(g_h.mul_(_eager_output(s)), 1 - s_b, out=g_z[:, H:])
    return g_z, _frame_sums(g_z, B, hop)


_EAGER: dict[str, Callable[..., Any]] = {"forward": _eager_forward, "output": _eager_output,
                                         "backward": _eager_backward}
_TRACED: dict[str, Callable[..., Any]] = {"forward": _forward, "output": _output,
                                          "backward": _backward}


def _pick(name: str, x: torch.Tensor) -> Callable[..., Any]:
    """The compiled loop for large ``x`` where ``MODE`` asks for it and compiling works, else
    the eager ops."""
    if MODE not in MODES:
        raise ValueError(f"wavegen.models.gate.MODE must be one of {', '.join(MODES)}, got "
                         f"{MODE!r}")
    if (MODE == "eager" or (MODE == "auto" and x.device.type != "cuda")
            or x.numel() < COMPILE_MIN_ELEMENTS):
        return _EAGER[name]
    if name not in _compiled:
        _compiled[name] = torch.compile(_TRACED[name], dynamic=True)
    compiled = _compiled[name]

    def call(*args):
        global MODE
        try:
            return compiled(*args)
        except Exception as err:  # noqa: BLE001 - any compiler failure: run eagerly instead
            MODE = "eager"
            log.warning("the compiled gate loop is unavailable here (%s: %s); training "
                        "continues with the eager ops, somewhat slower",
                        type(err).__name__, str(err).splitlines()[0] if str(err) else "")
            return _EAGER[name](*args)
    return call


def gate_forward(z: torch.Tensor, bias: torch.Tensor, B: int,
                 hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gate of the pre-activation z (N, G), rows ordered (t, b), plus the gate bias (F, B, G)
    of frames of ``hop`` time steps (time step t reads frame ``t // hop``; F = ceil(T / hop);
    one frame of ``hop >= T`` steps for a bias constant in time) -> (s (N, G) the sigmoid of
    both halves, h (N, H)). May overwrite ``z``."""
    # Contiguous: a compiled loop built for one layout of the bias was seen to be reused, with
    # wrong results, for another (torch 2.14, dynamic shapes); the copy is (F, B, G) at most.
    return _pick("forward", z)(z, bias.contiguous(), B, hop)


def gate_output(s: torch.Tensor) -> torch.Tensor:
    """h = (2 s_a - 1) * s_b = tanh(a) * sigmoid(b): s (N, G) -> h (N, H)."""
    return _pick("output", s)(s)


def gate_backward(g_h: torch.Tensor, s: torch.Tensor, B: int,
                  hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the gate: g_h (N, H) and the saved sigmoid s (N, G) -> (g_z (N, G) w.r.t.
    the pre-activation (2a, b), g_bias (F, B, G) summed over each frame's time steps). May
    overwrite ``g_h``."""
    return _pick("backward", s)(g_h, s, B, hop)
