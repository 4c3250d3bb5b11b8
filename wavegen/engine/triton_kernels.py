"""Triton kernel of the ``triton`` engine: many autoregressive steps per launch.

One program owns a tile of BM sampled batch rows (plus their unconditional twins under
classifier-free guidance) and runs ``n`` steps in a loop: per layer it reads ``x[t - d]`` from
the rows' ring buffers in global memory, applies the gate, the residual and skip 1x1s as
(BM x K) @ (K x N) tile products with the layer's weights, then the output head, the softmax
and the inverse-CDF draw, and feeds the codes back, without leaving the kernel. The weights are
read once per step and tile, shared by the BM rows; on an H100 the 2.5 MB of the BENCH model
stay in L2 (50 MB), so the loop streams weights from L2, never from HBM.

Products use ``tl.dot(..., input_precision="ieee")``: true fp32, no TF32, so teacher-forced
logits match the parallel forward within 1e-4. Sampling follows
:func:`wavegen.engine.sampling.sample_from_logits`: softmax of ``logits / temperature``; top-p
keeps the codes whose probability is at least the smallest one kept in the descending order
(``tl.sort``) by the test ``cumsum - p < top_p``; the cdf is a float64 scan stored in float32,
like torch's CPU ``cumsum``; the code is the number of cdf entries ``<= u * cdf[-1]``.

Tensor layouts (fp32 unless stated; A, R, H, S padded to the powers of two BA, BR, BH, BS by
masks, L layers, B' engine rows, QS = sum of dilations):
embed (A, R); wd (L, 2R, 2H) input-major; gb (B', L, 2H) gate bias with the conditioning;
ws (L, H, S); wr (L, H, R) and rb (L, R) with a zero last layer; sb (S,); o1 (S, S) and
o2 (S, A) input-major; o1b (S,); o2b (A,); dil, qoff (L,) int64; queue (B', QS, R);
lb (B', F, L, 2H) the local-conditioning table (read only if LOCAL).

Local conditioning (LOCAL): step ``tt`` (the engine's time counter, from its fresh state) adds
frame ``tt // hop`` of lb to every layer's gate pre-activation: per layer and row one more
contiguous load of 2H floats, like the gate bias's; the engine checks the frame is < F before
launching. Without it (LOCAL False) the load is compiled away.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def tanh(v):
    e = tl.exp(-2.0 * tl.abs(v))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(v < 0, -t, t)


@triton.jit
def tile(w_ptr, k, j, K, N):
    """The (BK, BN) tile of a row-major (K, N) matrix at w_ptr, zero outside."""
    return tl.load(w_ptr + k[:, None] * N + j[None, :], mask=(k[:, None] < K) & (j[None, :] < N),
                   other=0.0)


@triton.jit
def mm(a, w_ptr, k, j, K, N):
    """a (BM, BK) @ W (K, N) -> (BM, BN) in true fp32."""
    return tl.dot(a, tile(w_ptr, k, j, K, N), input_precision="ieee")


@triton.jit
def bias(ptr, j, N):
    return tl.load(ptr + j, mask=j < N, other=0.0)[None, :]


@triton.jit
def local_bias(lb, rows, live, tt, hop, n_frames, layer, L, H, hh):
    """Step ``tt``'s local-conditioning bias of one layer for rows (BM,): the (BM, BH) tanh
    and sigmoid halves of frame ``tt // hop`` of the (B', F, L, 2H) table at lb."""
    frame = tt // hop
    row = lb + ((rows.to(tl.int64) * n_frames + frame) * L + layer) * 2 * H  # (BM,) pointers
    mask = live[:, None] & (hh[None, :] < H)
    return (tl.load(row[:, None] + hh[None, :], mask=mask, other=0.0),
            tl.load(row[:, None] + H + hh[None, :], mask=mask, other=0.0))


@triton.jit
def guide(lg, un, guidance):
    """Guided logits: ``torch.lerp(un, lg, guidance)``, the same branch and formula."""
    diff = lg - un
    if tl.abs(guidance) < 0.5:
        out = un + guidance * diff
    else:
        out = lg - diff * (1.0 - guidance)
    return out


@triton.jit
def draw(lg, u, a, A, temperature, top_p, TOP_P: tl.constexpr):
    """Inverse-CDF draw as ``sample_from_logits``: logits (BM, BA), uniforms (BM,) -> (BM,)
    int64 codes; a (BA,) are the class indices, A the real class count."""
    valid = a[None, :] < A
    v = tl.where(valid, lg / temperature, float("-inf"))
    e = tl.where(valid, tl.exp(v - tl.max(v, 1)[:, None]), 0.0)
    p = e / tl.sum(e, 1)[:, None]  # (BM, BA)
    if TOP_P:
        ranked = tl.sort(p, 1, descending=True)
        before = (tl.cumsum(ranked.to(tl.float64), 1).to(tl.float32) - ranked)
        smallest = tl.min(tl.where(before < top_p, ranked, float("inf")), 1)
        p = tl.where(p >= smallest[:, None], p, 0.0)
    cdf = tl.cumsum(p.to(tl.float64), 1).to(tl.float32)  # (BM, BA)
    total = tl.sum(tl.where(a[None, :] == A - 1, cdf, 0.0), 1)
    below = valid & (cdf <= (u * total)[:, None])
    return tl.minimum(tl.sum(below.to(tl.int64), 1), A - 1)


@triton.jit
def _tile_logits(rows, live, codes, tt, embed, wd, gb, ws, wr, rb, sb, o1, o1b, o2, o2b, dil,
                 qoff, queue, lb, n_frames, hop, L, R, H, S, A, QS, LOCAL: tl.constexpr,
                 BM: tl.constexpr, BR: tl.constexpr, BH: tl.constexpr, BS: tl.constexpr,
                 BA: tl.constexpr):
    """One step of a tile of engine rows (BM,) fed codes (BM,) at time tt -> logits (BM, BA)."""
    r = tl.arange(0, BR)
    hh = tl.arange(0, BH)
    s = tl.arange(0, BS)
    a = tl.arange(0, BA)
    rmask = live[:, None] & (r[None, :] < R)
    x = tl.load(embed + codes[:, None] * R + r[None, :], mask=rmask, other=0.0)  # (BM, BR)
    skip = tl.zeros((BM, BS), tl.float32) + bias(sb, s, S)  # (BM, BS)
    for layer in range(L):
        d = tl.load(dil + layer)
        slot = queue + (rows[:, None] * QS + tl.load(qoff + layer) + tt % d) * R + r[None, :]
        past = tl.load(slot, mask=rmask, other=0.0)  # (BM, BR): x[t - d]
        tl.debug_barrier()
        tl.store(slot, x, mask=rmask)
        w_l = wd + layer * 2 * R * 2 * H
        gate = gb + (rows[:, None] * L + layer) * 2 * H + hh[None, :]
        gmask = live[:, None] & (hh[None, :] < H)
        za = (mm(past, w_l, r, hh, R, 2 * H) + mm(x, w_l + R * 2 * H, r, hh, R, 2 * H)
              + tl.load(gate, mask=gmask, other=0.0))
        zb = (mm(past, w_l + H, r, hh, R, 2 * H) + mm(x, w_l + R * 2 * H + H, r, hh, R, 2 * H)
              + tl.load(gate + H, mask=gmask, other=0.0))
        if LOCAL:
            fa, fb = local_bias(lb, rows, live, tt, hop, n_frames, layer, L, H, hh)
            za += fa
            zb += fb
        h = tanh(za) * tl.sigmoid(zb)  # (BM, BH)
        skip += mm(h, ws + layer * H * S, hh, s, H, S)
        x += mm(h, wr + layer * H * R, hh, r, H, R) + bias(rb + layer * R, r, R)
    y1 = tl.maximum(mm(tl.maximum(skip, 0.0), o1, s, s, S, S) + bias(o1b, s, S), 0.0)
    return mm(y1, o2, s, a, S, A) + bias(o2b, a, A)  # (BM, BA)


@triton.jit
def wavenet_steps(embed, wd, gb, ws, wr, rb, sb, o1, o1b, o2, o2b, dil, qoff, queue, lb,
                  inputs, logits_out, uniforms, codes_out, t0, n, n_rows, n_frames, hop,
                  temperature, top_p, guidance, L, R, H, S, A, QS,
                  TEACHER: tl.constexpr, GUIDED: tl.constexpr, TOP_P: tl.constexpr,
                  LOCAL: tl.constexpr, BM: tl.constexpr, BR: tl.constexpr, BH: tl.constexpr,
                  BS: tl.constexpr, BA: tl.constexpr):
    """Program ``i`` runs ``n`` steps of rows ``i*BM ... i*BM + BM - 1`` (< n_rows), and of
    their twins ``row + n_rows`` if GUIDED. Teacher mode feeds inputs (n_rows, n) int64 and
    writes logits_out (n_rows, A, n); sampling mode starts from inputs (n_rows, 1), draws with
    uniforms (n_rows, n) and writes codes_out (n_rows, n) int64. With LOCAL, step ``t0 + t``
    also adds frame ``(t0 + t) // hop`` of the (rows, n_frames, L, 2H) table lb."""
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    live = rows < n_rows
    a = tl.arange(0, BA)
    valid = a[None, :] < A
    codes = tl.load(inputs + rows * (n if TEACHER else 1), mask=live, other=0)  # (BM,)
    for t in range(n):
        if TEACHER:
            codes = tl.load(inputs + rows * n + t, mask=live, other=0)
        lg = _tile_logits(rows, live, codes, t0 + t, embed, wd, gb, ws, wr, rb, sb, o1, o1b, o2,
                          o2b, dil, qoff, queue, lb, n_frames, hop, L, R, H, S, A, QS, LOCAL,
                          BM, BR, BH, BS, BA)
        if TEACHER:
            tl.store(logits_out + (rows[:, None] * A + a[None, :]) * n + t, lg,
                     mask=live[:, None] & valid)
        else:
            if GUIDED:
                un = _tile_logits(rows + n_rows, live, codes, t0 + t, embed, wd, gb, ws, wr, rb,
                                  sb, o1, o1b, o2, o2b, dil, qoff, queue, lb, n_frames, hop, L,
                                  R, H, S, A, QS, LOCAL, BM, BR, BH, BS, BA)
                lg = guide(lg, un, guidance)
            u = tl.load(uniforms + rows * n + t, mask=live, other=0.0)
            codes = draw(lg, u, a, A, temperature, top_p, TOP_P)
            tl.store(codes_out + rows * n + t, codes, mask=live)
        tl.debug_barrier()
