"""Numba kernels of the ``cpu`` engine: the whole autoregressive loop in compiled code.

One call of :func:`run_part` generates ``n`` samples for a group of M batch rows without
returning to Python. P threads may share one group by splitting the gate channels (and the
output head) between them; they meet at a spin barrier once per layer but the last (partial
residual sums) and twice per sample (partial skip sums; partial logits), 21 barriers per
sample for 20 layers. Each barrier is split into arrive and wait, and between the two a thread
does work that needs nothing from its peers: the layer's skip product and the next layer's
half of the dilated product that reads the ring buffer (known before the step reaches the
layer). Every thread keeps its own copy of the ring buffers and of the residual stream,
computed identically, so only partial sums cross threads. With P = 1 there is no barrier,
groups run independently, and the residual and skip 1x1s are one product.

Sampling mirrors :func:`wavegen.engine.sampling.sample_from_logits` in float32, step by step:
softmax of ``logits / temperature``, optional top-p on the descending order, a cumulative sum
accumulated in float64 and stored in float32 (as torch's CPU ``cumsum`` does), then the first
code whose cdf exceeds ``u * cdf[-1]``.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# FMA contraction only: no reassociation, no approximated transcendental functions.
_FM = {"contract"}
_SPINS = 4000  # busy-wait polls before yielding the core to the scheduler


@intrinsic
def _load_acquire(typingctx, arr, idx):
    """``arr[idx]`` of an int64 array as an atomic acquire load (never hoisted out of loops)."""
    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)
    return types.int64(arr, idx), codegen


@intrinsic
def _store_release(typingctx, arr, idx, val):
    """``arr[idx] = val`` of an int64 array as an atomic release store."""
    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()
    return types.void(arr, idx, val), codegen


@intrinsic
def _sched_yield(typingctx):
    """Give up the core (libc ``sched_yield``): a waiting thread must not starve its peer."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                            "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _widen(typingctx, x):
    """A weight as float32: float32 as is; uint16 as the top half of a float32 (bfloat16)."""
    if isinstance(x, types.Float):
        return x(x), lambda context, builder, sig, args: args[0]
    if isinstance(x, types.Integer) and x.bitwidth == 16 and not x.signed:
        def codegen(context, builder, sig, args):
            v = builder.shl(builder.zext(args[0], ir.IntType(32)), ir.Constant(ir.IntType(32), 16))
            return builder.bitcast(v, ir.FloatType())
        return types.float32(x), codegen
    return None


@njit(nogil=True, cache=True)
def _arrive(flags, part, count):
    """Thread ``part`` arrives at barrier number ``count`` (publishes what it wrote before).

    flags: (n_parts * 16,) int64, one cache line per part. Split from :func:`_wait` so a
    thread can do work that needs nothing from its peers between arriving and waiting.
    """
    _store_release(flags, part * 16, count)


@njit(nogil=True, cache=True)
def _wait(flags, n_parts, count):
    """Returns when every part has arrived at barrier number ``count``."""
    for q in range(n_parts):
        spins = 0
        while _load_acquire(flags, q * 16) < count:
            spins += 1
            if spins > _SPINS:
                _sched_yield()


@njit(nogil=True, cache=True, fastmath=_FM, inline="always")
def _fma4(out, m, j, a0, a1, a2, a3, w0, w1, w2, w3):
    """out[m, j] += a0 w0 + a1 w1 + a2 w2 + a3 w3 as a chain of FMAs."""
    acc = out[m, j]
    acc += a0 * w0
    acc += a1 * w1
    acc += a2 * w2
    acc += a3 * w3
    out[m, j] = acc


@njit(nogil=True, cache=True, fastmath=_FM, inline="always")
def _fma8(out, m, j, a0, a1, a2, a3, a4, a5, a6, a7, w, k):
    """out[m, j] += a0 w[k, j] + ... + a7 w[k + 7, j] as a chain of FMAs."""
    acc = out[m, j]
    acc += a0 * _widen(w[k, j])
    acc += a1 * _widen(w[k + 1, j])
    acc += a2 * _widen(w[k + 2, j])
    acc += a3 * _widen(w[k + 3, j])
    acc += a4 * _widen(w[k + 4, j])
    acc += a5 * _widen(w[k + 5, j])
    acc += a6 * _widen(w[k + 6, j])
    acc += a7 * _widen(w[k + 7, j])
    out[m, j] = acc


@njit(nogil=True, cache=True, fastmath=_FM)
def _matmul_acc(out, inp, w, M):
    """out[:M] += inp[:M] @ w. out (M', N), inp (M', K), w (K, N) float32 or bfloat16 bits.

    Blocks of 4 rows by 4 inputs: each weight vector loaded feeds four rows' FMA chains, so
    the loop is bound by FMAs rather than loads. Leftover rows (all of them at batch 1) go one
    at a time in blocks of 8 inputs: half the loads and stores of ``out`` and half the loop
    overhead per FMA of 4-input blocks. Each output is accumulated in input order.
    """
    K, N = w.shape
    M4 = M - M % 4
    k = 0
    while k + 4 <= K:
        m = 0
        while m + 4 <= M:
            a0, a1, a2, a3 = inp[m, k], inp[m, k + 1], inp[m, k + 2], inp[m, k + 3]
            b0, b1, b2, b3 = inp[m + 1, k], inp[m + 1, k + 1], inp[m + 1, k + 2], inp[m + 1, k + 3]
            c0, c1, c2, c3 = inp[m + 2, k], inp[m + 2, k + 1], inp[m + 2, k + 2], inp[m + 2, k + 3]
            d0, d1, d2, d3 = inp[m + 3, k], inp[m + 3, k + 1], inp[m + 3, k + 2], inp[m + 3, k + 3]
            for j in range(N):
                w0, w1, w2, w3 = (_widen(w[k, j]), _widen(w[k + 1, j]), _widen(w[k + 2, j]),
                                  _widen(w[k + 3, j]))
                _fma4(out, m, j, a0, a1, a2, a3, w0, w1, w2, w3)
                _fma4(out, m + 1, j, b0, b1, b2, b3, w0, w1, w2, w3)
                _fma4(out, m + 2, j, c0, c1, c2, c3, w0, w1, w2, w3)
                _fma4(out, m + 3, j, d0, d1, d2, d3, w0, w1, w2, w3)
            m += 4
        k += 4
    while k < K:
        for m in range(M4):
            a0 = inp[m, k]
            for j in range(N):
                out[m, j] += a0 * _widen(w[k, j])
        k += 1
    for m in range(M4, M):
        k = 0
        while k + 8 <= K:
            a0, a1, a2, a3 = inp[m, k], inp[m, k + 1], inp[m, k + 2], inp[m, k + 3]
            a4, a5, a6, a7 = inp[m, k + 4], inp[m, k + 5], inp[m, k + 6], inp[m, k + 7]
            for j in range(N):
                _fma8(out, m, j, a0, a1, a2, a3, a4, a5, a6, a7, w, k)
            k += 8
        while k < K:
            a0 = inp[m, k]
            for j in range(N):
                out[m, j] += a0 * _widen(w[k, j])
            k += 1


_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693145751953125)  # ln 2 split so that k * _LN2_HI is exact
_LN2_LO = np.float32(1.4286068203094173e-06)
_LO, _HI = np.float32(-87.0), np.float32(88.0)


@njit(nogil=True, cache=True, fastmath=_FM)
def _exp_inplace(v, bits, n):
    """v[:n] <- exp(v[:n]) (float32, relative error ~1e-7), in loops the compiler vectorizes.

    exp(x) = 2**k * exp(r), k = round(x / ln 2), |r| <= ln 2 / 2, exp(r) by its Taylor series
    to degree 7; 2**k is built in the exponent bits. bits: (>= n,) int32 scratch.
    """
    scale = bits.view(np.float32)
    for i in range(n):
        x = min(max(v[i], _LO), _HI)
        k = np.floor(x * _LOG2E + np.float32(0.5))
        r = (x - k * _LN2_HI) - k * _LN2_LO
        p = np.float32(1.0 / 5040.0)
        p = p * r + np.float32(1.0 / 720.0)
        p = p * r + np.float32(1.0 / 120.0)
        p = p * r + np.float32(1.0 / 24.0)
        p = p * r + np.float32(1.0 / 6.0)
        p = p * r + np.float32(0.5)
        p = p * r + np.float32(1.0)
        v[i] = p * r + np.float32(1.0)
        bits[i] = (np.int32(k) + np.int32(127)) << np.int32(23)
    for i in range(n):
        v[i] = v[i] * scale[i]


@njit(nogil=True, cache=True, fastmath=_FM)
def _gate(z, h, e, bits, M, Hp):
    """h = tanh(z[:, :Hp]) * sigmoid(z[:, Hp:]) for M rows; e (2 Hp,) float32 scratch.

    tanh(a) = sign(a) (1 - exp(-2|a|)) / (1 + exp(-2|a|)), sigmoid(b) = 1 / (1 + exp(-b)),
    their product with a single division: absolute error ~1.5e-7, far inside the logits
    tolerance.
    """
    for m in range(M):
        for c in range(Hp):
            e[c] = np.float32(-2.0) * abs(z[m, c])
            e[Hp + c] = -z[m, Hp + c]
        _exp_inplace(e, bits, 2 * Hp)
        for c in range(Hp):
            ea, eb = e[c], e[Hp + c]
            t = (np.float32(1.0) - ea) / ((np.float32(1.0) + ea) * (np.float32(1.0) + eb))
            h[m, c] = t if z[m, c] >= 0 else -t


# Mass above top_p the candidates must hold for the codes left out to be dropped whatever the
# float32 rounding of the running sum (a few 1e-7 near 1); and the most candidates worth an
# insertion sort (more: sort all codes).
_NUCLEUS_MARGIN = 1e-5
_MAX_CANDIDATES = 96


@njit(nogil=True, cache=True)
def _nucleus_candidates(probs, top_p, order):
    """order[:n] <- the codes of probability >= (1 - top_p - margin) / A, most probable first
    (ties in index order); n = A (all codes sorted) when they are too many or hold too little
    of the mass to decide the cut. probs (A,) float32 sum to 1; order (A,) int64 scratch."""
    A = probs.shape[0]
    theta = (1.0 - top_p - _NUCLEUS_MARGIN) / A
    n = 0
    mass = 0.0
    if theta > 0.0:
        for a in range(A):
            if probs[a] >= theta:
                order[n] = a
                n += 1
                mass += probs[a]
    if theta <= 0.0 or n > _MAX_CANDIDATES or mass < top_p + _NUCLEUS_MARGIN:
        order[:] = np.argsort(-probs, kind="mergesort")
        return A
    for i in range(1, n):  # insertion sort, stable: an equal key stays after earlier indices
        key = order[i]
        pk = probs[key]
        j = i - 1
        while j >= 0 and probs[order[j]] < pk:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = key
    return n


@njit(nogil=True, cache=True)
def sample_code(logits, u, temperature, top_p, probs, order, bits):
    """Inverse-CDF sample of one row. logits (A,) float32, u float32 -> code.

    probs (A,) float32, order (A,) int64 and bits (A,) int32 are scratch space.
    """
    A = logits.shape[0]
    temp = np.float32(temperature)
    mx = np.float32(-np.inf)
    for a in range(A):
        v = logits[a] / temp
        probs[a] = v
        mx = max(mx, v)
    for a in range(A):
        probs[a] = probs[a] - mx
    _exp_inplace(probs, bits, A)
    total = np.float32(0.0)
    for a in range(A):
        total += probs[a]
    for a in range(A):
        probs[a] = probs[a] / total
    if top_p < 1.0:
        # Stable descending order (ties keep index order, as torch's sort does in practice),
        # of the candidates only: the codes of probability >= theta hold more than top_p of
        # the mass (the rest hold < A * theta), so every code below theta comes after the cut
        # and is dropped. Sorting those few instead of all A codes gives the same result.
        n = _nucleus_candidates(probs, top_p, order)
        run = 0.0
        p32 = np.float32(top_p)
        for i in range(n):
            p = probs[order[i]]
            before = np.float32(np.float32(run + p) - p)  # cumsum(sorted) - sorted, in float32
            run += p
            if before >= p32:
                probs[order[i]] = np.float32(0.0)
        if n < A:
            theta = (1.0 - top_p - _NUCLEUS_MARGIN) / A
            for a in range(A):
                if probs[a] < theta:
                    probs[a] = np.float32(0.0)
    acc = 0.0
    for a in range(A):
        acc += probs[a]
        probs[a] = np.float32(acc)  # cdf, float64 accumulation stored as float32
    target = np.float32(np.float32(u) * probs[A - 1])
    for a in range(A):
        if probs[a] > target:
            return a
    return A - 1


@njit(nogil=True, cache=True)
def _lerp(start, end, weight, out):
    """torch.lerp(start, end, weight) for float32 rows, the same formula and branch."""
    w = np.float32(weight)
    for a in range(start.shape[0]):
        diff = end[a] - start[a]
        if abs(w) < 0.5:
            out[a] = start[a] + w * diff
        else:
            out[a] = end[a] - diff * (np.float32(1.0) - w)


@njit(nogil=True, cache=True, fastmath=_FM)
def _frame_bias(gbl, part, rows, M, tt, gb, lt, hop):
    """gbl[:M] <- the gate biases of step tt's frame in part ``part``'s layout, (M, L, 2Hp):
    the global one, plus the plan's frame ``tt // hop`` (``lt`` (B', F, L, G) as the model
    gives it: the part's tanh channels ``part * Hp + c`` and its sigmoid channels ``H + part
    * Hp + c``, none past H; ``lt`` with no frames: no plan). Called when a launch starts
    and when a step enters a new frame, not per step."""
    Hp = gbl.shape[2] // 2
    H = lt.shape[3] // 2
    for m in range(M):
        r = rows[m]
        gbl[m] = gb[r, part]
        if lt.shape[1] > 0:
            f = tt // hop
            for layer in range(gbl.shape[1]):
                for c in range(min(Hp, H - part * Hp)):
                    g = part * Hp + c
                    gbl[m, layer, c] += lt[r, f, layer, g]
                    gbl[m, layer, Hp + c] += lt[r, f, layer, H + g]


@njit(nogil=True, cache=True, fastmath=_FM)
def _past_half(z, past, part, rows, M, layer, tt, gbl, wd, dil, qoff, queue):
    """z[:M] <- gate bias + (the layer's input from ``dil`` steps before step tt) @ its weights.

    That input (the ring buffer slot) is known long before the step reaches the layer, so this
    half of the dilated product is work a thread can do while it waits at a barrier. gbl:
    (M, L, 2Hp) the biases of step tt's frame (:func:`_frame_bias`).
    """
    base = qoff[layer] + tt % dil[layer]
    for m in range(M):
        past[m, :] = queue[part, rows[m], base]
        z[m, :] = gbl[m, layer]
    _matmul_acc(z, past, wd[part, layer, 0], M)


@njit(nogil=True, cache=True, fastmath=_FM)
def run_part(part, n_parts, rows, n_sampled, guided, teacher, inputs, logits_out, uniforms,
             codes_out, temperature, top_p, guidance, embed, wd, gb, lt, hop, wrs, rb, sb, o1,
             o1b, o2, o2b, dil, qoff, queue, t0, xch, flags, n):
    """Generate (or teacher-force) ``n`` steps for one group of rows, as thread ``part``.

    Args:
        rows: (M,) engine rows of this group. If ``guided``, rows[i + n_sampled] is the
            unconditional twin of rows[i] (i < n_sampled) and both are fed row i's sample.
        teacher: feed inputs[:, t] at step t and write logits_out[:, :, t] (B', A, n);
            otherwise inputs[:, 0] is the previous code, sample with uniforms (Bs, n) into
            codes_out (Bs, n).
        wd: (P, L, 2, R, 2Hp) gate weights of each part ([:Hp] tanh, [Hp:] sigmoid channels)
            for the dilated past input ([:, :, 0]) and the current one ([:, :, 1]);
            gb: (B', P, L, 2Hp) gate bias with the conditioning projection.
        lt, hop: local conditioning, (B', F, L, G) per-frame gate biases: step tt adds
            ``lt[:, tt // hop]`` (F = 0: none; the caller checks that the steps stay inside
            the plan). Each thread forms the sum with its part's channels of ``gb`` once per
            frame, so a plan costs nothing per step.
        wrs: (P, L, Hp (R + S)) residual (zero in the last layer) and skip 1x1s: with P = 1
            one (Hp, R + S) matrix (one product), else (Hp, R) then (Hp, S) (two products, the
            skip one while waiting); rb (L-1, R); sb (S,).
        o1: (P, S, Sp), o1b (P, Sp): the first head layer split by outputs; o2: (P, Sp, A),
            o2b (A,): the second split by inputs (both zero-padded to P equal blocks).
        dil, qoff: (L,) dilations and offsets of each layer's ring buffer in queue
            (P, B', sum(dil), R); t0: time index of the first step (ring slot = t % d).
            The weight matrices (wd, wrs, o1, o2) are float32, or all uint16 bfloat16 bits.
        xch: (2, P, M, W) exchange space; flags: (P * 16,) int64 barrier counters.

    Synchronisation (P > 1): per step, one barrier per layer but the last (partial residual
    sums) and two for the head (partial skip sums; partial logits). Each barrier is split:
    a thread publishes its partial sum, arrives, then does work that needs nothing from its
    peers (this layer's skip product and the next layer's past half of the gate product, or
    the next step's first past half) before it waits.
    """
    M = rows.shape[0]
    L = dil.shape[0]
    R = embed.shape[1]
    A = embed.shape[0]
    Hp = wd.shape[4] // 2
    S = sb.shape[0]
    Sp = o1.shape[2]
    f32 = np.float32
    x = np.empty((M, R), f32)
    past = np.empty((M, R), f32)
    z = np.empty((M, 2 * Hp), f32)
    zn = np.empty((M, 2 * Hp), f32)
    h = np.empty((M, Hp), f32)
    rs = np.empty((M, R + S), f32)  # P = 1: [:R] this layer's residual, [R:] the skip sum
    part_r = np.empty((M, R), f32)  # P > 1: the same, apart
    skp = np.empty((M, S), f32)
    skip = np.empty((M, S), f32)
    y1 = np.empty((M, Sp), f32)
    y2 = np.empty((M, A), f32)
    lg = np.empty((M, A), f32)
    mixed = np.empty(A, f32)
    probs = np.empty(A, f32)
    order = np.empty(A, np.int64)
    ez = np.empty(2 * Hp, f32)
    bits = np.empty(max(A, 2 * Hp), np.int32)
    cur = np.empty(M, np.int64)
    for m in range(M):
        cur[m] = inputs[rows[m], 0]
    gbl = np.empty((M, L, 2 * Hp), f32)  # the gate biases of the current frame
    local = lt.shape[1] > 0
    _frame_bias(gbl, part, rows, M, t0, gb, lt, hop)
    nb = 0  # barriers passed
    if n > 0:
        _past_half(z, past, part, rows, M, 0, t0, gbl, wd, dil, qoff, queue)
    for t in range(n):
        tt = t0 + t
        if teacher:
            for m in range(M):
                cur[m] = inputs[rows[m], t]
        for m in range(M):
            x[m, :] = embed[cur[m]]
            skp[m, :] = 0.0
            rs[m, R:] = 0.0
        for layer in range(L):
            # z holds this layer's bias + past half; the ring slot is free once that is done.
            base = qoff[layer] + tt % dil[layer]
            for m in range(M):
                queue[part, rows[m], base] = x[m]
            _matmul_acc(z, x, wd[part, layer, 1], M)
            _gate(z, h, ez, bits, M, Hp)
            last = layer == L - 1
            buf = nb % 2
            if n_parts == 1:  # one product of N = R + S outputs: less overhead per FMA
                rs[:, :R] = 0.0
                _matmul_acc(rs, h, wrs[part, layer].reshape((Hp, R + S)), M)
            elif not last:  # the residual first, the skip while the peers catch up
                part_r[:, :] = 0.0
                _matmul_acc(part_r, h, wrs[part, layer, :Hp * R].reshape((Hp, R)), M)
            if not last:
                xch[buf, part, :M, :R] = part_r if n_parts > 1 else rs[:, :R]
                if n_parts > 1:
                    nb += 1
                    _arrive(flags, part, nb)
            if n_parts > 1:
                _matmul_acc(skp, h, wrs[part, layer, Hp * R:].reshape((Hp, S)), M)
            if not last:
                _past_half(zn, past, part, rows, M, layer + 1, tt, gbl, wd, dil, qoff, queue)
                if n_parts > 1:
                    _wait(flags, n_parts, nb)
                for m in range(M):
                    for c in range(R):
                        acc = rb[layer, c]
                        for q in range(n_parts):
                            acc += xch[buf, q, m, c]
                        x[m, c] += acc
                z, zn = zn, z
        # Skip sum over parts (the next step's first past half meanwhile), then the head:
        # its first layer split by outputs, its second by inputs, summed at the last barrier.
        buf = nb % 2
        xch[buf, part, :M, :S] = skp if n_parts > 1 else rs[:, R:]
        if n_parts > 1:
            nb += 1
            _arrive(flags, part, nb)
        if t + 1 < n:
            if local and (tt + 1) % hop == 0:  # step tt's past halves are done: a new frame
                _frame_bias(gbl, part, rows, M, tt + 1, gb, lt, hop)
            _past_half(z, past, part, rows, M, 0, tt + 1, gbl, wd, dil, qoff, queue)
        if n_parts > 1:
            _wait(flags, n_parts, nb)
        for m in range(M):
            for c in range(S):
                acc = sb[c]
                for q in range(n_parts):
                    acc += xch[buf, q, m, c]
                skip[m, c] = max(acc, f32(0.0))
            y1[m, :] = o1b[part]
        _matmul_acc(y1, skip, o1[part], M)
        for m in range(M):
            for c in range(Sp):
                y1[m, c] = max(y1[m, c], f32(0.0))
            if part == 0:
                y2[m, :] = o2b
            else:
                y2[m, :] = 0.0
        _matmul_acc(y2, y1, o2[part], M)
        if n_parts > 1:
            buf = nb % 2
            xch[buf, part, :M, :A] = y2
            nb += 1
            _arrive(flags, part, nb)
            _wait(flags, n_parts, nb)
            for m in range(M):
                for c in range(A):
                    acc = xch[buf, 0, m, c]
                    for q in range(1, n_parts):
                        acc += xch[buf, q, m, c]
                    lg[m, c] = acc
        else:
            lg[:, :] = y2
        if teacher:
            if part == 0:
                for m in range(M):
                    logits_out[rows[m], :, t] = lg[m]
            continue
        for i in range(n_sampled):
            if guided:
                _lerp(lg[i + n_sampled], lg[i], guidance, mixed)
            else:
                mixed[:] = lg[i]
            code = sample_code(mixed, uniforms[rows[i], t], temperature, top_p, probs, order, bits)
            if part == 0:
                codes_out[rows[i], t] = code
            cur[i] = code
            if guided:
                cur[i + n_sampled] = code
