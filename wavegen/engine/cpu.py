"""The ``cpu`` engine: the autoregressive loop fused in compiled code (numba), on CPU.

The exported weights are laid out once for the kernel (:mod:`wavegen.engine.cpu_kernels`):
per layer, input-major blocks so the innermost loop runs over contiguous outputs, and the gate
channels split into P equal parts (zero-padded) when P threads share one batch. The
conditioning is projected into each layer's gate bias once, when the engine is built; a
local-conditioning plan is copied as it is, (B, F, L, G), and the kernel adds a frame to the
gate biases (each thread its part's channels) when a step enters it: once per hop, not per
step. Ring buffers hold each layer's last ``d`` inputs; memory does not grow with the clip
length.

Precision: fp32 by default (the exact path the tests hold to the reference). ``precision=
"bf16"`` stores the weight matrices as bfloat16 (rounded to nearest) and widens them to fp32
in the kernel, halving the weight bytes per sample; activations, biases and sampling stay fp32.
Its tolerance: teacher-forced logits within 0.5% of the largest logit magnitude of the fp32
forward (measured 0.25% on the packaged model and on BENCH), so its sampled codes are not the
reference's; it is never the default.

Threads: with fewer batch rows than cores, all cores work on the same rows, each on its slice
of the gate channels, of the head's first layer's outputs and of its second layer's inputs
(P = cores); otherwise each core takes its own rows (P = 1) and runs without
synchronisation. The kernel releases the GIL, so plain Python threads run it.
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np
import torch
import torch.nn.functional as F

from wavegen.engine.cpu_kernels import run_part
from wavegen.engine.local import check_steps, checked_local
from wavegen.engine.sampling import check_sampled_rows
from wavegen.errors import WavegenError
from wavegen.models.weights import LocalBias, WaveNetWeights

log = logging.getLogger(__name__)

# Splitting one row's gate channels across threads pays off from about this many channels.
MIN_SPLIT_HIDDEN = 32


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _parts(t: torch.Tensor, dim: int, parts: int) -> torch.Tensor:
    """Zero-pad ``dim`` to a multiple of ``parts`` and split it into (parts, size) dims."""
    size = -(-t.shape[dim] // parts)
    pad = [0, 0] * (t.dim() - 1 - dim) + [0, size * parts - t.shape[dim]]
    t = F.pad(t, pad)
    return t.reshape(*t.shape[:dim], parts, size, *t.shape[dim + 1:])


def _gate_parts(t: torch.Tensor, dim: int, H: int, parts: int) -> torch.Tensor:
    """Gate channels (dim ``dim``: tanh half, then sigmoid half, H each) split into ``parts``
    groups, each its tanh then its sigmoid channels (zero-padded to Hp): dim -> (parts, 2Hp)."""
    return torch.cat([_parts(t.narrow(dim, 0, H), dim, parts),
                      _parts(t.narrow(dim, H, H), dim, parts)], dim + 1)


def _np(t: torch.Tensor, dtype=np.float32) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=dtype)


def _bf16(t: torch.Tensor) -> np.ndarray:
    """fp32 -> bfloat16 (round to nearest even), as its uint16 bit patterns."""
    return _np(t.contiguous().to(torch.bfloat16).view(torch.int16), np.int16).view(np.uint16)


class CpuEngine:
    """Fused numba engine. ``step`` for teacher forcing, ``run`` for sampling many steps."""

    name = "cpu"

    def __init__(self, weights: WaveNetWeights, cond: torch.Tensor,
                 local: LocalBias | None = None, threads: int | None = None,
                 split: int | None = None, precision: str = "fp32") -> None:
        """weights and cond (B, C) on CPU; local: table (B, F, L, G) on CPU. ``threads``:
        cores to use (default: all usable); ``split``: threads sharing one group of rows
        (default: chosen from B and the model); ``precision``: ``fp32`` or ``bf16`` weight
        matrices (the local table stays fp32, like the biases)."""
        if precision not in ("fp32", "bf16"):
            raise WavegenError(f"unknown precision '{precision}'; known: fp32, bf16")
        if cond.device.type != "cpu":
            raise WavegenError(f"the cpu engine runs on CPU, got conditioning on {cond.device}; "
                               "use --engine cached or triton for other devices")
        if not run_part.signatures:  # first use in this process: cache load or compilation
            log.info("loading the CPU kernel (numba compiles it once per install, about 20 s; "
                     "afterwards it loads in about a second)")
        w = weights.to("cpu", torch.float32)
        self.w = weights
        B, L, R, H = cond.shape[0], w.n_layers, w.residual_channels, w.gate_channels // 2
        plan = None if local is None else checked_local(local, w, B, torch.device("cpu"))
        self.threads = max(1, threads or available_cores())
        if split is None:
            split = self.threads if B <= self.threads and H >= MIN_SPLIT_HIDDEN else 1
        if split < 1:
            raise WavegenError(f"split must be >= 1, got {split}")
        P = self.P = split
        cond = cond.float()
        mat = _np if precision == "fp32" else _bf16
        with torch.no_grad():
            # (L, P, 2Hp, 2R) -> (P, L, 2, R, 2Hp): tanh then sigmoid channels of each part,
            # for the dilated past input, then for the current one.
            self.dil_wt = mat(_gate_parts(w.dil_weight, 1, H, P).permute(1, 0, 3, 2)
                              .reshape(P, L, 2, R, -1))
            self.gate_bias = self._gate_bias(w, cond)  # (B, P, L, 2Hp)
            # Residual (zero after the last layer) and skip 1x1s, (P, L, Hp (R + S)): one
            # (Hp, R + S) matrix per layer for P = 1, else (Hp, R) then (Hp, S).
            res = torch.cat([w.res_weight, w.res_weight.new_zeros(1, R, H)])
            rs = _parts(torch.cat([res, w.skip_weight], 1).transpose(1, 2), 1, P)
            if P > 1:
                rs = torch.cat([rs[..., :R].flatten(2), rs[..., R:].flatten(2)], 2)
            self.res_skip_wt = mat(rs.transpose(0, 1).reshape(P, L, -1))
            self.res_bias = _np(w.res_bias)  # (L-1, R)
            self.skip_bias = _np(w.skip_bias.sum(0))  # (S,)
            self.out1_wt = mat(_parts(w.out1_weight.T, 1, P).transpose(0, 1))  # (P, S, Sp)
            self.out1_bias = _np(_parts(w.out1_bias, 0, P))  # (P, Sp)
            self.out2_wt = mat(_parts(w.out2_weight.T, 0, P))  # (P, Sp, A): split by inputs
            self.out2_bias = _np(w.out2_bias)  # (A,)
        self.embed = _np(w.embed)
        self._w32 = w  # float32 CPU weights: set_cond re-projects with them
        self.dil = np.asarray(w.dilations, dtype=np.int64)
        self.qoff = np.concatenate([[0], np.cumsum(self.dil)[:-1]]).astype(np.int64)
        self.queue = np.zeros((P, B, int(self.dil.sum()), R), np.float32)  # ring buffers
        self.B = B
        self.t = 0
        self._keep_local(plan)

    def _launch(self, groups: list[np.ndarray], n_sampled: list[int], guided: bool,
                teacher: bool, inputs: np.ndarray, logits_out: np.ndarray, uniforms: np.ndarray,
                codes_out: np.ndarray, temperature: float, top_p: float, guidance: float,
                n: int) -> None:
        """Run every (group, part) pair on its own thread (the first on this one)."""
        P, A, R, S = self.P, self.w.n_classes, self.w.residual_channels, self.w.skip_channels
        check_steps(self.local, self.t, n)
        width = max(R, S, A)
        jobs = []
        for rows, ns in zip(groups, n_sampled, strict=True):
            xch = np.zeros((2, P, len(rows), width), np.float32)
            flags = np.zeros(P * 16, np.int64)
            for part in range(P):
                jobs.append((part, P, rows, ns, guided, teacher, inputs, logits_out, uniforms,
                             codes_out, temperature, top_p, guidance, *self._weights(),
                             self.dil, self.qoff, self.queue, self.t, xch, flags, n))
        errors: list[BaseException] = []

        def work(args):
            try:
                run_part(*args)
            except BaseException as err:  # surfaced below, in the caller's thread
                errors.append(err)

        helpers = [threading.Thread(target=work, args=(job,), daemon=True) for job in jobs[1:]]
        for th in helpers:
            th.start()
        work(jobs[0])
        for th in helpers:
            th.join()
        if errors:
            raise errors[0]
        self.t += n

    def _gate_bias(self, w: WaveNetWeights, cond: torch.Tensor) -> np.ndarray:
        """Each layer's gate bias with the conditioning projected, cond (B, C) -> (B, P, L,
        2Hp): the tanh then the sigmoid channels of each of the P parts (zero-padded)."""
        with torch.no_grad():
            bias = w.gate_biases(cond.float())  # (B, L, G)
            parts = _gate_parts(bias, 2, w.gate_channels // 2, self.P)  # (B, L, P, 2Hp)
        return _np(parts.permute(0, 2, 1, 3))

    def set_cond(self, cond: torch.Tensor) -> None:
        """New conditioning (B, C) from the next sample on (the caches carry on)."""
        self.gate_bias[...] = self._gate_bias(self._w32, cond.cpu())

    def set_local(self, local: LocalBias) -> None:
        """A new plan (B, F, L, G) from the next step on (frames counted from step 0)."""
        self._keep_local(checked_local(local, self.w, self.B, torch.device("cpu")))

    def _keep_local(self, plan: LocalBias | None) -> None:
        """The kernel's copy of a checked plan (numpy only): (B, F, L, G) and its hop; with
        no plan a table of no frames, which the kernel skips (hop unused)."""
        G = self.w.gate_channels
        self.local = plan
        self.local_table = (np.zeros((self.B, 0, self.w.n_layers, G), np.float32)
                            if plan is None else np.array(plan.table.detach().numpy()))
        self.hop = 1 if plan is None else plan.hop

    def _weights(self) -> tuple[np.ndarray | int, ...]:
        """The laid-out weights (and plan) in the kernel's argument order."""
        return (self.embed, self.dil_wt, self.gate_bias, self.local_table, self.hop,
                self.res_skip_wt, self.res_bias, self.skip_bias, self.out1_wt, self.out1_bias,
                self.out2_wt, self.out2_bias)

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B,) long, the newest input sample -> logits (B, A) for the next one."""
        inputs = _np(codes.reshape(self.B, 1), np.int64)
        logits = np.zeros((self.B, self.w.n_classes, 1), np.float32)
        dummy_u, dummy_c = np.zeros((1, 1), np.float32), np.zeros((1, 1), np.int64)
        self._launch([np.arange(self.B)], [self.B], False, True, inputs, logits, dummy_u,
                     dummy_c, 1.0, 1.0, 1.0, 1)
        return torch.from_numpy(logits[:, :, 0])

    def feed(self, codes: torch.Tensor, chunk: int = 4096) -> None:
        """Teacher-force codes (B, T) through the caches (a primer), discarding the logits."""
        inputs = _np(codes, np.int64)
        dummy_u, dummy_c = np.zeros((1, 1), np.float32), np.zeros((1, 1), np.int64)
        for start in range(0, inputs.shape[1], chunk):
            part = np.ascontiguousarray(inputs[:, start:start + chunk])
            logits = np.zeros((self.B, self.w.n_classes, part.shape[1]), np.float32)
            self._launch([np.arange(self.B)], [self.B], False, True, part, logits, dummy_u,
                         dummy_c, 1.0, 1.0, 1.0, part.shape[1])

    def run(self, prev: torch.Tensor, uniforms: torch.Tensor, temperature: float = 1.0,
            top_p: float = 1.0, guidance: float = 1.0) -> torch.Tensor:
        """Sample ``n`` steps in the kernel.

        Args:
            prev: (Bs,) long, the previous code of each sampled row.
            uniforms: (Bs, n) in [0, 1).
            guidance: if not 1, the engine holds 2 Bs rows (conditional, then unconditional)
                and samples from ``torch.lerp(uncond, cond, guidance)`` logits.

        Returns:
            (Bs, n) long codes.
        """
        Bs, n = uniforms.shape
        guided = check_sampled_rows(self.B, Bs, guidance)
        first = _np(prev.reshape(Bs, 1), np.int64)
        inputs = np.concatenate([first, first]) if guided else first
        codes = np.zeros((Bs, n), np.int64)
        n_groups = 1 if self.P > 1 else min(self.threads, Bs)
        groups = [np.concatenate([c, c + Bs]) if guided else c
                  for c in np.array_split(np.arange(Bs), n_groups)]
        self._launch(groups, [len(g) // (2 if guided else 1) for g in groups], guided, False,
                     inputs, np.zeros((1, 1, 1), np.float32), _np(uniforms), codes,
                     float(temperature), float(top_p), float(guidance), n)
        return torch.from_numpy(codes)


def warm() -> dict[str, int]:
    """Compile (or load from numba's cache) the kernel for both weight precisions, so the
    first ``wavegen synth`` does not wait for it. ``make`` runs it at install
    (``python -m wavegen.engine``); the cache lives beside the module, or in
    ``NUMBA_CACHE_DIR``, and is reused until the kernel's source changes.

    Returns numba's counters for :func:`run_part`: ``cache_hits`` and ``cache_misses``
    (compilations) in this process.
    """
    from wavegen.models.wavenet import WaveNet, WaveNetConfig

    torch.manual_seed(0)
    net = WaveNet(WaveNetConfig(residual_channels=4, gate_channels=8, skip_channels=4,
                                n_layers=2, dilation_cycle=2, n_cond=2))
    w, cond = net.export_weights(), torch.eye(2)
    for precision in ("fp32", "bf16"):
        eng = CpuEngine(w, cond, threads=1, precision=precision)
        eng.run(torch.zeros(2, dtype=torch.long), torch.rand(2, 3))
    stats = run_part.stats
    return {"cache_hits": sum(stats.cache_hits.values()),
            "cache_misses": sum(stats.cache_misses.values())}

