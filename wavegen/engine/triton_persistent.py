"""The persistent multi-SM Triton kernel of the ``triton`` engine (nv-wavenet's idea).

Program ``l < L`` owns residual layer ``l`` and keeps its weights on chip for the whole launch
(loaded once, before the time loop, into registers); program ``L`` owns the output head and
the sampling. Per step the activations flow along the chain of programs through small
buffers in global memory (L2 on a GPU), each hand-off published with a release increment of a
counter and awaited with an acquire spin on it:

- layer ``l`` waits until its input ``x_l[t]`` is ready (``flags[l] >= i + 1``; layer 0 waits
  for the code drawn at the previous step, ``flags[L + 1] >= i + 1``), reads ``x_l[t - d]``
  from its own ring buffer (nobody else touches it), computes the gate, writes ``x_{l+1}[t]``
  for layer ``l + 1`` and its skip contribution, and counts both;
- the head waits until all ``L`` skip contributions of step ``i`` are in
  (``flags[L] >= L (i + 1)``), sums them in layer order, runs the two head layers, the softmax
  and the inverse-CDF draw (:func:`draw`, shared with the tile kernel) and publishes the code.

All programs must be resident at once (the spins would otherwise wait forever), so the grid
(L + 1 programs) must not exceed the GPU's SM count; the engine checks it. Hand-off buffers are
read with ``cache_modifier=".cg"`` (L2, not the SM's non-coherent L1). Under teacher forcing
there is no feedback, so the programs pipeline freely over the chunk (layer ``l`` at step
``i`` while layer ``l + 1`` is at ``i - 1``); their buffers then hold every step
(``NBUF = n``) so nothing is overwritten before it is read. Sampling needs only ``NBUF = 2``:
layer ``l`` cannot start step ``i + 1`` before the head has consumed step ``i``.

Triton's CPU interpreter runs programs one after another in grid order, which a spin on a
later program would deadlock. Teacher forcing still completes on the real grid (every wait is
on an earlier program). For sampling the kernel has a SERIAL schedule (grid (1,)): one program
runs every role's step in dependency order with the same step functions, buffers and counters,
so the interpreter exercises every hand-off, the code feedback through ``codebuf`` included;
only the concurrency is not.

Layouts are those of :mod:`wavegen.engine.triton_kernels`, plus: act (L, NBUF, BM, BR) and
skipbuf (L, NBUF, BM, BS) fp32; codebuf (NBUF, BM) int64; flags (L + 2,) int32, zero at
launch except ``flags[L + 1] = 1`` when sampling (the start code is in ``codebuf[0]``);
scratch (BM, BA) fp32 for pairing guided rows. With LOCAL, layer ``l`` adds frame
``(t0 + i) // hop`` of the local-conditioning table lb at every step ``i``: the gate bias
stays on chip, the frame's is one contiguous load of 2H floats per row and step, issued
before the layer waits for its input so that its latency hides behind the hand-off.
"""

from __future__ import annotations

import triton
import triton.language as tl

from wavegen.engine.triton_kernels import bias, draw, guide, local_bias, mm, tanh, tile


@triton.jit
def _wait(flag, target):
    """Spin until the counter at ``flag`` reaches ``target`` (acquire), then sync the block."""
    seen = tl.atomic_add(flag, 0, sem="acquire")
    while seen < target:
        seen = tl.atomic_add(flag, 0, sem="acquire")
    tl.debug_barrier()


@triton.jit
def _signal(flag):
    """Publish everything this block wrote: block barrier, then a release increment."""
    tl.debug_barrier()
    tl.atomic_add(flag, 1, sem="release")


@triton.jit
def _layer_weights(p, wd, gb, ws, wr, rb, dil, qoff, queue, rows, live, L, R, H, S,
                   BR: tl.constexpr, BH: tl.constexpr, BS: tl.constexpr):
    """Layer ``p``'s weights as register tiles, its gate bias (with the conditioning) for the
    rows, its dilation and the start of its ring buffers."""
    r = tl.arange(0, BR)
    hh = tl.arange(0, BH)
    s = tl.arange(0, BS)
    w_l = wd + p * 2 * R * 2 * H
    gate = gb + (rows[:, None] * L + p) * 2 * H + hh[None, :]
    gmask = live[:, None] & (hh[None, :] < H)
    return (tile(w_l, r, hh, R, 2 * H), tile(w_l + H, r, hh, R, 2 * H),  # x[t - d] -> a, b
            tile(w_l + R * 2 * H, r, hh, R, 2 * H),  # x[t] -> a (tanh half)
            tile(w_l + R * 2 * H + H, r, hh, R, 2 * H),  # x[t] -> b (sigmoid half)
            tile(ws + p * H * S, hh, s, H, S),  # skip (BH, BS)
            tile(wr + p * H * R, hh, r, H, R), bias(rb + p * R, r, R),  # residual (BH, BR)
            tl.load(gate, mask=gmask, other=0.0), tl.load(gate + H, mask=gmask, other=0.0),
            tl.load(dil + p), queue + tl.load(qoff + p) * R)


@triton.jit
def _layer_step(p, i, w_past_a, w_past_b, w_now_a, w_now_b, w_skip, w_res, b_res, g_a, g_b,
                d, ring, embed, act, skipbuf, codebuf, flags, lb, inputs, rows, live, t0, n,
                NBUF, n_frames, hop, L, R, H, QS, TEACHER: tl.constexpr, LOCAL: tl.constexpr,
                BM: tl.constexpr, BR: tl.constexpr, BH: tl.constexpr, BS: tl.constexpr):
    """Step ``i`` of residual layer ``p``: wait for x_p[t], publish x_{p+1}[t] and the skip."""
    r = tl.arange(0, BR)
    s = tl.arange(0, BS)
    rmask = live[:, None] & (r[None, :] < R)
    buf = i % NBUF
    if LOCAL:  # the step's frame, loaded before the wait: off the hand-off's critical path
        fa, fb = local_bias(lb, rows, live, t0 + i, hop, n_frames, p, L, H, tl.arange(0, BH))
        g_a = g_a + fa
        g_b = g_b + fb
    if p == 0:
        if TEACHER:
            codes = tl.load(inputs + rows * n + i, mask=live, other=0)
        else:
            _wait(flags + L + 1, i + 1)
            codes = tl.load(codebuf + buf * BM + rows, mask=live, other=0, cache_modifier=".cg")
        x = tl.load(embed + codes[:, None] * R + r[None, :], mask=rmask, other=0.0)
    else:
        _wait(flags + p, i + 1)
        x = tl.load(act + ((p * NBUF + buf) * BM + rows[:, None]) * BR + r[None, :],
                    mask=rmask, other=0.0, cache_modifier=".cg")  # (BM, BR)
    slot = ring + (rows[:, None] * QS + (t0 + i) % d) * R + r[None, :]
    past = tl.load(slot, mask=rmask, other=0.0)  # (BM, BR): x[t - d]
    tl.debug_barrier()
    tl.store(slot, x, mask=rmask)
    za = (tl.dot(past, w_past_a, input_precision="ieee")
          + tl.dot(x, w_now_a, input_precision="ieee") + g_a)
    zb = (tl.dot(past, w_past_b, input_precision="ieee")
          + tl.dot(x, w_now_b, input_precision="ieee") + g_b)
    h = tanh(za) * tl.sigmoid(zb)  # (BM, BH)
    if p < L - 1:  # the next layer's input first: it is on the critical path
        x_next = x + tl.dot(h, w_res, input_precision="ieee") + b_res
        tl.store(act + (((p + 1) * NBUF + buf) * BM + rows[:, None]) * BR + r[None, :],
                 x_next, mask=rmask)
        _signal(flags + p + 1)
    tl.store(skipbuf + ((p * NBUF + buf) * BM + rows[:, None]) * BS + s[None, :],
             tl.dot(h, w_skip, input_precision="ieee"), mask=live[:, None])
    _signal(flags + L)


@triton.jit
def _head_step(i, sb, o1, o1b, o2, o2b, skipbuf, codebuf, flags, scratch, logits_out,
               uniforms, codes_out, rows, live, n, n_sampled, NBUF, temperature, top_p,
               guidance, L, S, A, TEACHER: tl.constexpr, GUIDED: tl.constexpr,
               TOP_P: tl.constexpr, BM: tl.constexpr, BS: tl.constexpr, BA: tl.constexpr):
    """Step ``i`` of the head: wait for all L skips, sum them, head, draw, publish the code."""
    s = tl.arange(0, BS)
    a = tl.arange(0, BA)
    sampled = rows < n_sampled
    buf = i % NBUF
    _wait(flags + L, L * (i + 1))
    skip = tl.zeros((BM, BS), tl.float32) + bias(sb, s, S)
    for layer in range(L):
        skip += tl.load(skipbuf + ((layer * NBUF + buf) * BM + rows[:, None]) * BS + s[None, :],
                        mask=live[:, None], other=0.0, cache_modifier=".cg")
    y1 = tl.maximum(mm(tl.maximum(skip, 0.0), o1, s, s, S, S) + bias(o1b, s, S), 0.0)
    lg = mm(y1, o2, s, a, S, A) + bias(o2b, a, A)  # (BM, BA)
    if TEACHER:
        tl.store(logits_out + (rows[:, None] * A + a[None, :]) * n + i, lg,
                 mask=live[:, None] & (a[None, :] < A))
    else:
        if GUIDED:  # pair row j with its unconditional twin j + n_sampled
            tl.store(scratch + rows[:, None] * BA + a[None, :], lg)
            tl.debug_barrier()
            lc = tl.load(scratch + rows[:, None] * BA + a[None, :], mask=sampled[:, None],
                         other=0.0)
            lu = tl.load(scratch + (rows[:, None] + n_sampled) * BA + a[None, :],
                         mask=sampled[:, None], other=0.0)
            lg = guide(lc, lu, guidance)
            tl.debug_barrier()
        u = tl.load(uniforms + rows * n + i, mask=sampled, other=0.0)
        codes = draw(lg, u, a, A, temperature, top_p, TOP_P)
        tl.store(codes_out + rows * n + i, codes, mask=sampled)
        nxt = codebuf + ((i + 1) % NBUF) * BM + rows
        tl.store(nxt, codes, mask=sampled)
        if GUIDED:
            tl.store(nxt + n_sampled, codes, mask=sampled)
        _signal(flags + L + 1)


@triton.jit
def wavenet_persistent(embed, wd, gb, ws, wr, rb, sb, o1, o1b, o2, o2b, dil, qoff, queue, lb,
                       act, skipbuf, codebuf, flags, scratch, inputs, logits_out, uniforms,
                       codes_out, t0, n, n_rows, n_sampled, NBUF, n_frames, hop, temperature,
                       top_p, guidance, L, R, H, S, A, QS,
                       TEACHER: tl.constexpr, GUIDED: tl.constexpr, TOP_P: tl.constexpr,
                       LOCAL: tl.constexpr, SERIAL: tl.constexpr, BM: tl.constexpr,
                       BR: tl.constexpr, BH: tl.constexpr, BS: tl.constexpr, BA: tl.constexpr):
    """Grid (L + 1,): programs 0..L-1 are the layers, program L the head. ``n`` steps of the
    engine's ``n_rows`` (<= BM) rows, starting at time ``t0``; teacher mode reads inputs
    (n_rows, n) and writes logits_out (n_rows, A, n); sampling draws codes_out (n_sampled, n)
    with uniforms (n_sampled, n). With LOCAL, step ``t0 + i`` adds frame ``(t0 + i) // hop``
    of the (n_rows, n_frames, L, 2H) table lb.

    SERIAL (grid (1,)): one program plays every role in dependency order, step by step, with
    the same step code, buffers and counters: the schedule the CPU interpreter can run for
    sampling, where the head feeds layer 0 within the launch."""
    p = tl.program_id(0)
    rows = tl.arange(0, BM)
    live = rows < n_rows
    if SERIAL:
        for i in range(n):
            for layer in range(L):
                (wpa, wpb, wna, wnb, wsk, wre, bre, ga, gbb, d,
                 ring) = _layer_weights(layer, wd, gb, ws, wr, rb, dil, qoff, queue, rows, live,
                                        L, R, H, S, BR, BH, BS)
                _layer_step(layer, i, wpa, wpb, wna, wnb, wsk, wre, bre, ga, gbb, d, ring,
                            embed, act, skipbuf, codebuf, flags, lb, inputs, rows, live, t0, n,
                            NBUF, n_frames, hop, L, R, H, QS, TEACHER, LOCAL, BM, BR, BH, BS)
            _head_step(i, sb, o1, o1b, o2, o2b, skipbuf, codebuf, flags, scratch, logits_out,
                       uniforms, codes_out, rows, live, n, n_sampled, NBUF, temperature,
                       top_p, guidance, L, S, A, TEACHER, GUIDED, TOP_P, BM, BS, BA)
    elif p < L:
        # The layer's weights, loaded once and kept on chip for the whole launch.
        (wpa, wpb, wna, wnb, wsk, wre, bre, ga, gbb, d,
         ring) = _layer_weights(p, wd, gb, ws, wr, rb, dil, qoff, queue, rows, live, L, R, H,
                                S, BR, BH, BS)
        for i in range(n):
            _layer_step(p, i, wpa, wpb, wna, wnb, wsk, wre, bre, ga, gbb, d, ring, embed, act,
                        skipbuf, codebuf, flags, lb, inputs, rows, live, t0, n, NBUF, n_frames,
                        hop, L, R, H, QS, TEACHER, LOCAL, BM, BR, BH, BS)
    else:
        for i in range(n):
            _head_step(i, sb, o1, o1b, o2, o2b, skipbuf, codebuf, flags, scratch, logits_out,
                       uniforms, codes_out, rows, live, n, n_sampled, NBUF, temperature,
                       top_p, guidance, L, S, A, TEACHER, GUIDED, TOP_P, BM, BS, BA)


__all__ = ["wavenet_persistent"]
