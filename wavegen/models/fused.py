"""The fused training path of the WaveNet residual stack (``WaveNet(impl="fused")``): tensor
math only. ``wavenet.py`` owns the layers and the forward and passes their weights here.

It computes exactly what the reference layers in ``wavenet.py`` compute, with the same
parameters, but arranged so that the hot path is a handful of large GEMMs and few temporaries:

* **Time-major layout.** Activations are (T, B, C). A left-padded signal ``xp`` (d + T, B, R)
  then gives both kernel taps as contiguous (T * B, R) views, ``xp[:T]`` (sees x[t - d]) and
  ``xp[d:]`` (sees x[t]): no per-layer ``F.pad`` copy, no im2col, and every product is a plain
  2-D matrix multiply. Each layer writes its residual output straight into a buffer that already
  carries the next layer's zero padding.
* **One autograd node per layer.** ``_ResidualLayerFn`` does taps + gate bias + gate +
  residual and skip 1x1s in forward and writes its own backward. It saves the layer input
  ``xp`` (the previous layer's output: no copy) and, unless ``recompute_gate``, the gate's
  sigmoid (N, G); with ``recompute_gate`` backward redoes the two tap GEMMs instead. Stored
  activations per time step and layer: R + 3H in the reference (padded input, tanh, sigmoid,
  h), R + G here, or R with ``recompute_gate``.
* **One transcendental.** ``tanh(a) = 2 sigmoid(2 a) - 1`` with the factor 2 folded into the
  tap weights, so one sigmoid over the whole (N, G) pre-activation serves both gate halves (a
  sigmoid is several times cheaper than a tanh on CPU).
* **Gate bias per frame.** The gate bias (global conditioning, the dilated conv's bias and,
  with local conditioning, the frame network's bias) is given per frame of ``hop`` time steps,
  (F, B, G), and added through a view of the pre-activation as (frames, hop, B, G): nothing of
  size (T, B, G) is built for it, and its gradient is the pre-activation's gradient summed over
  each frame. Without local conditioning it is one frame as long as the segment.
* **Gate loops.** The element-wise work around the GEMMs (gate bias and sigmoid, the gate
  output, the gate's backward with the bias gradient) is in ``gate.py``: compiled into one
  loop each for large activations, eager ops otherwise.
* **Skip sum by accumulation.** The first layer starts the skip sum from the sum of all skip
  biases, the others accumulate their skip 1x1 into it in place (``addmm_``); the skip
  gradient, the same for every layer, is passed through unchanged.
* **Optional activation checkpointing** per cycle of dilations keeps only each cycle's input.
* **Mixed precision.** Under autocast (bf16, or fp16 on CUDA) every GEMM and the gate run in the
  autocast dtype while the residual stream, the skip sum and all parameters stay float32: each
  layer casts its input once and keeps only that low-precision copy for backward (half the
  stored bytes), the skip and residual products are added into the float32 sums, and the
  returned logits are float32, so the loss and its softmax run in float32.

Shapes: B batch, T time, N = T * B rows, R residual, G = 2 H gate, S skip, C conditioning,
F frames of local conditioning.
"""

from __future__ import annotations

from typing import Any

import torch

from wavegen.models.gate import gate_backward, gate_forward, gate_output


class _ResidualLayerFn(torch.autograd.Function):
    """One residual layer on time-major, left-padded activations.

    The tanh half of the gate is computed as ``tanh(a) = 2 sigmoid(2 a) - 1`` (a sigmoid is
    several times cheaper than a tanh on CPU): the caller doubles the tanh half of the tap
    weights and of the bias, so ``z`` below holds ``(2 a, b)`` and one sigmoid serves both
    halves. Backward either uses the saved sigmoid ``s`` (N, G) or, with ``recompute``, redoes
    the two tap GEMMs from the saved input instead.

    Forward inputs:
        xp: (d + T, B, R) layer input, rows [:d] are the causal zero padding.
        skip: (N, S) running skip sum, updated in place; or (S,) skip bias to start a new sum.
        bias: (F, B, G) gate bias per frame: the conditioning projection plus the dilated
            conv's bias plus, with local conditioning, the frame's (tanh half doubled);
            time step t reads frame ``t // hop``, so F = ceil(T / hop).
        w_past, w_now: (G, R) kernel taps applied to x[t - d] and x[t] (tanh half doubled).
        w_res: (R, H) residual 1x1, or None for the last layer; b_res: (R,) or None.
        w_skip: (S, H) skip 1x1 (its bias is in the ``skip`` that starts the sum).
        dilation: d.
        pad_out: zero rows to put in front of the residual output (the next dilation).
        recompute: save only ``xp`` and recompute the gate in backward.
        hop: time steps per frame of ``bias`` (T or more for a bias constant in time).

    The GEMMs and the gate run in the dtype of the weights (``bias``, ``w_*`` and ``w_res``:
    float32, float64, or the autocast dtype); ``xp``, ``skip``, ``b_res`` and the outputs keep
    theirs (float32 under autocast). When the two differ, the layer saves its input cast to the
    compute dtype instead of ``xp``.

    Forward outputs:
        (pad_out + T, B, R) residual output (None for the last layer), (N, S) skip sum.
    """

    @staticmethod
    def forward(ctx: Any, xp: torch.Tensor, skip: torch.Tensor, bias: torch.Tensor,
                w_past: torch.Tensor, w_now: torch.Tensor, w_res: torch.Tensor | None,
                b_res: torch.Tensor | None, w_skip: torch.Tensor, dilation: int,
                pad_out: int, recompute: bool,
                hop: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        T, B, R = xp.shape[0] - dilation, xp.shape[1], xp.shape[2]
        mixed = w_now.dtype != xp.dtype
        xc = xp.to(w_now.dtype) if mixed else xp  # (d + T, B, R) in the compute dtype
        z = _gate_input(xc, w_past, w_now, dilation)  # (N, G)
        s, h = gate_forward(z, bias, B, hop)  # (N, G), (N, H)
        ctx.starts_skip = skip.dim() == 1
        if mixed:  # the product in the compute dtype, the sum in the stream's
            part = h @ w_skip.t()  # (N, S)
            skip = part.to(skip.dtype).add_(skip) if ctx.starts_skip else skip.add_(part)
        elif ctx.starts_skip:
            skip = torch.addmm(skip, h, w_skip.t())  # (N, S)
        else:
            skip.addmm_(h, w_skip.t())  # (N, S), in place: the sum is not saved anywhere
        if not ctx.starts_skip:
            ctx.mark_dirty(skip)
        out = None
        if w_res is not None:
            out = xp.new_empty(pad_out + T, B, R)  # (pad_out + T, B, R)
            out[:pad_out].zero_()
            y = out[pad_out:].view(T * B, R)  # (N, R)
            if mixed:
                torch.add(xp[dilation:].reshape(T * B, R), h @ w_res.t(), out=y)
            else:
                torch.addmm(xp[dilation:].reshape(T * B, R), h, w_res.t(), out=y)
            assert b_res is not None  # a layer with a residual 1x1 has its bias
            y.add_(b_res)
        ctx.save_for_backward(xc, bias, w_past, w_now, w_res, w_skip, None if recompute else s)
        ctx.dilation, ctx.pad_out, ctx.stream_dtype, ctx.hop = dilation, pad_out, xp.dtype, hop
        return out, skip

    @staticmethod
    def backward(ctx: Any, g_out: torch.Tensor | None,
                 g_skip: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        xc, bias, w_past, w_now, w_res, w_skip, s = ctx.saved_tensors
        d, pad_out, hop = ctx.dilation, ctx.pad_out, ctx.hop
        T, B, R = xc.shape[0] - d, xc.shape[1], xc.shape[2]
        N = T * B
        cdt, mixed = w_now.dtype, w_now.dtype != ctx.stream_dtype
        g_skip_c = g_skip.to(cdt).contiguous()  # (N, S)
        if s is None:
            s, h = gate_forward(_gate_input(xc, w_past, w_now, d), bias, B, hop)
        else:
            h = gate_output(s)  # (N, H)

        g_h = g_skip_c @ w_skip  # (N, H)
        g_w_skip = g_skip_c.t() @ h  # (S, H)
        g_w_res = g_b_res = g_res = None
        if w_res is not None:
            assert g_out is not None  # the residual output was used
            g_res = g_out[pad_out:].reshape(N, R)  # (N, R), stream dtype
            g_res_c = g_res.to(cdt)
            g_h.addmm_(g_res_c, w_res)
            g_w_res = g_res_c.t() @ h  # (R, H)
            g_b_res = g_res.sum(0)  # (R,)

        del h
        g_z, g_bias = gate_backward(g_h, s, B, hop)  # (N, G), (F, B, G)
        del g_h, s

        g_xp = torch.empty(xc.shape, dtype=ctx.stream_dtype, device=xc.device)  # (d + T, B, R)
        g_now = g_xp[d:].view(N, R)
        if mixed:
            g_now.copy_(g_z @ w_now)
            if g_res is not None:
                g_now.add_(g_res)
            g_xp[:d].zero_()
            g_xp[:T].view(N, R).add_(g_z @ w_past)
        else:
            if g_res is not None:
                torch.addmm(g_res, g_z, w_now, out=g_now)
            else:
                torch.mm(g_z, w_now, out=g_now)
            g_xp[:d].zero_()
            g_xp[:T].view(N, R).addmm_(g_z, w_past)
        g_w_past = g_z.t() @ xc[:T].reshape(N, R)  # (G, R)
        g_w_now = g_z.t() @ xc[d:].reshape(N, R)  # (G, R)
        g_skip_in = g_skip.sum(0) if ctx.starts_skip else g_skip
        return (g_xp, g_skip_in, g_bias, g_w_past, g_w_now, g_w_res, g_b_res, g_w_skip,
                None, None, None, None)


def _gate_input(xp: torch.Tensor, w_past: torch.Tensor, w_now: torch.Tensor,
                d: int) -> torch.Tensor:
    """The dilated conv without its bias: xp (d + T, B, R) -> z (N, G)."""
    T, B, R = xp.shape[0] - d, xp.shape[1], xp.shape[2]
    z = xp[d:].reshape(T * B, R) @ w_now.t()  # (N, G)
    z.addmm_(xp[:T].reshape(T * B, R), w_past.t())
    return z


def residual_layer(xp: torch.Tensor, skip: torch.Tensor, bias: torch.Tensor, hop: int,
                   w: torch.Tensor, w_res: torch.Tensor | None, b_res: torch.Tensor | None,
                   w_skip: torch.Tensor, dilation: int, pad_out: int, recompute: bool,
                   cdt: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor]:
    """One residual layer with :class:`_ResidualLayerFn`, computing in ``cdt``.

    Args:
        bias: (F, B, G) gate bias per frame of ``hop`` time steps: the conditioning
            projection plus the dilated conv's bias plus the frame's local bias, if any.
        w: (G, R, 2) dilated conv weight: tap 0 sees x[t - d], tap 1 sees x[t].
        w_res, b_res: (R, H) and (R,) residual 1x1, or None for the last layer.
        w_skip: (S, H) skip 1x1.
        Others as in :class:`_ResidualLayerFn`.
    """
    H = w.shape[0] // 2
    gain = torch.cat([w.new_full((H,), 2.0), w.new_ones(H)])  # (G,): tanh(a) via sigmoid(2a)
    return _ResidualLayerFn.apply(
        xp, skip, (bias * gain).to(cdt), (w[:, :, 0] * gain[:, None]).to(cdt),
        (w[:, :, 1] * gain[:, None]).to(cdt), None if w_res is None else w_res.to(cdt), b_res,
        w_skip.to(cdt), dilation, pad_out, recompute, hop)


def compute_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """The dtype the stack's GEMMs run in: the autocast dtype if autocast is on, else ``dtype``
    (the parameters' own)."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return dtype
