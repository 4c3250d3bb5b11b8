"""The ``graph`` engine: the cached step as device-side torch ops, replayed as a CUDA graph.

For models too large for the ``triton`` engine's one-tile-per-program kernel (its weights
would stream through one SM per step), the best a GPU can do per sample is one grid-wide
kernel per product (cuBLAS spreads each layer over all SMs). Launched from Python that costs
~25 launches per layer and sample, each 5-10 us of launch overhead, more than the math of a
medium model. A CUDA graph removes it: ``graph_steps`` whole steps, sampling included, are
captured once per (temperature, top-p, guidance) and replayed per block, so the CPU only
copies the block's uniforms in and its codes out.

Capture needs every step to be the same kernels on the same buffers, so nothing here depends
on a Python-side time index: each layer's ring buffer (d, B, R) is addressed by a device
tensor ``pos`` (``index_select``/``index_copy_`` at ``pos % d``), advanced in place; the
uniforms, the previous codes and the emitted codes live in static buffers. A local-conditioning
plan lives in one static (B, F, L, G) buffer too, and each step picks its frame on the device
(``index_select`` at ``pos // hop``); only the plan's end is checked on the host, before a
block is run. The same code runs eagerly on any device (no capture off CUDA), which is how it
is tested without a GPU.
"""

from __future__ import annotations

import torch

from wavegen.engine.cached import CachedEngine
from wavegen.engine.local import check_steps, checked_local
from wavegen.engine.sampling import check_sampled_rows, guided_step
from wavegen.errors import WavegenError
from wavegen.models.weights import LocalBias, WaveNetWeights

GRAPH_STEPS = 128  # samples per captured graph (per replay)
MAX_GRAPHS = 8  # captured graphs kept (one per temperature, top-p and guidance in use)


class GraphEngine(CachedEngine):
    """Device-resident cached generation; CUDA-graph replay on CUDA, eager elsewhere.

    The weight layout and the (d, B, R) ring buffers are the ``cached`` engine's; only the
    time index moves to the device."""

    name = "graph"

    def __init__(self, weights: WaveNetWeights, cond: torch.Tensor,
                 local: LocalBias | None = None, graph_steps: int = GRAPH_STEPS,
                 use_graph: bool | None = None) -> None:
        """weights on cond's device; cond (B, C) float; local: table (B, F, L, G) there.
        ``use_graph`` defaults to CUDA."""
        super().__init__(weights, cond)
        dev = cond.device
        self.B = cond.shape[0]
        self.use_graph = dev.type == "cuda" if use_graph is None else use_graph
        if self.use_graph and dev.type != "cuda":
            raise WavegenError("CUDA graphs need a CUDA device; use use_graph=False")
        self.graph_steps = int(graph_steps)
        self.dils = [torch.tensor(d, dtype=torch.long, device=dev) for d in weights.dilations]
        self.pos = torch.zeros(1, dtype=torch.long, device=dev)  # the time index, on device
        self._graphs: dict[tuple, tuple] = {}
        # The plan as the graphs read it: (B, F, L, G) and the hop, on device (None: no plan).
        self.local_table: torch.Tensor | None = None
        self.hop = torch.ones(1, dtype=torch.long, device=dev)
        if local is not None:
            self.set_local(local)

    def set_local(self, local: LocalBias) -> None:
        """A new plan from the next step on. A table of the same shape is copied into the
        buffer the captured graphs read; another shape (a longer plan) replaces the buffer
        and drops the graphs, which are captured again on their next use."""
        new = checked_local(local, self.w, self.B, self.pos.device)
        if self.local_table is not None and self.local_table.shape == new.table.shape:
            self.local_table.copy_(new.table)
        else:
            self.local_table = new.table.clone()
            self._graphs.clear()
        self.hop.fill_(new.hop)
        self.local = new  # the host-side copy: where the plan ends

    def _frame(self) -> torch.Tensor | None:
        """(B, L, G) local bias of the coming step, picked on the device at ``pos // hop``
        (None without a plan). The host checks the plan's end before every step it runs;
        the clamp only keeps the capture's warm-up steps (whose results are discarded)
        inside the table."""
        if self.local_table is None:
            return None
        last = self.local_table.shape[1] - 1
        frame = torch.div(self.pos, self.hop, rounding_mode="floor").clamp_(max=last)  # (1,)
        return self.local_table.index_select(1, frame)[:, 0]  # (B, L, G)

    def _logits(self, codes: torch.Tensor) -> torch.Tensor:
        """One step on device state: codes (B,) long -> logits (B, A); advances ``pos``."""
        w, H = self.w, self.H
        frame = self._frame()  # (B, L, G) or None
        x = w.embed[codes]  # (B, R)
        skips = self.skip_bias.expand(x.shape[0], -1)  # (B, S)
        for i in range(w.n_layers):
            slot = torch.remainder(self.pos, self.dils[i])  # (1,) long
            past = self.queues[i].index_select(0, slot)[0]  # (B, R): this layer's x[t - d]
            self.queues[i].index_copy_(0, slot, x.unsqueeze(0))
            bias = self.gate_bias[i] if frame is None else self.gate_bias[i] + frame[:, i]
            z = torch.addmm(bias, torch.cat([past, x], dim=1), self.dil_wt[i])  # (B, G)
            h = torch.tanh(z[:, :H]) * torch.sigmoid(z[:, H:])  # (B, H)
            skips = torch.addmm(skips, h, self.skip_wt[i])  # (B, S)
            if i < w.n_layers - 1:
                x = x + torch.addmm(w.res_bias[i], h, self.res_wt[i])  # (B, R)
        self.pos.add_(1)
        h = torch.relu(torch.addmm(w.out1_bias, torch.relu(skips), self.out1_wt))  # (B, S)
        return torch.addmm(w.out2_bias, h, self.out2_wt)  # (B, A)

    def step(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B,) long, the newest input sample -> logits (B, A) for the next one."""
        check_steps(self.local, self.t, 1)
        self.t += 1
        return self._logits(codes.to(self.pos.device))

    def feed(self, codes: torch.Tensor) -> None:
        """Teacher-force codes (B, T) through the caches (a primer), discarding the logits."""
        check_steps(self.local, self.t, codes.shape[1])
        self.t += codes.shape[1]
        codes = codes.to(self.pos.device)
        for t in range(codes.shape[1]):
            self._logits(codes[:, t])

    def _sample(self, prev: torch.Tensor, uniforms: torch.Tensor, codes_out: torch.Tensor,
                temperature: float, top_p: float, guidance: float) -> torch.Tensor:
        """uniforms (Bs, k) -> codes_out (Bs, k); returns the last codes (Bs,)."""
        guided = self.B == 2 * prev.shape[0]
        for j in range(uniforms.shape[1]):
            prev = guided_step(self._logits, prev, uniforms[:, j], temperature, top_p, guidance,
                               guided)
            codes_out[:, j] = prev
        return prev

    def _graph(self, Bs: int, temperature: float, top_p: float, guidance: float) -> tuple:
        """The captured block for these sampling settings: (graph, prev, uniforms, codes)."""
        key = (temperature, top_p, guidance)
        if key in self._graphs:
            return self._graphs[key]
        if len(self._graphs) >= MAX_GRAPHS:  # settings that move over time: keep the newest
            del self._graphs[next(iter(self._graphs))]
        dev, k = self.pos.device, self.graph_steps
        prev = torch.zeros(Bs, dtype=torch.long, device=dev)
        u = torch.zeros(Bs, k, device=dev)
        codes = torch.zeros(Bs, k, dtype=torch.long, device=dev)
        # Warm up outside the graph (lazy cuBLAS and allocator set-up), then restore the state.
        saved = [q.clone() for q in self.queues], self.pos.clone()
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            self._sample(prev, u[:, :2], codes[:, :2], temperature, top_p, guidance)
        torch.cuda.current_stream(dev).wait_stream(side)
        for q, s in zip(self.queues, saved[0], strict=True):
            q.copy_(s)
        self.pos.copy_(saved[1])
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            last = self._sample(prev, u, codes, temperature, top_p, guidance)
            prev.copy_(last)
        self._graphs[key] = (graph, prev, u, codes)
        return self._graphs[key]

    def run(self, prev: torch.Tensor, uniforms: torch.Tensor, temperature: float = 1.0,
            top_p: float = 1.0, guidance: float = 1.0) -> torch.Tensor:
        """prev (Bs,) long, uniforms (Bs, n) -> codes (Bs, n): whole graph blocks replayed,
        the remainder (and everything off CUDA) run eagerly with the same code."""
        Bs, n = uniforms.shape
        check_sampled_rows(self.B, Bs, guidance)
        check_steps(self.local, self.t, n)
        self.t += n
        dev = self.pos.device
        prev = prev.to(dev)
        uniforms = uniforms.to(dev, torch.float32)
        out = torch.empty(Bs, n, dtype=torch.long, device=dev)
        start, k = 0, self.graph_steps
        if self.use_graph:
            graph, g_prev, g_u, g_codes = self._graph(Bs, temperature, top_p, guidance)
            g_prev.copy_(prev)
            while n - start >= k:
                g_u.copy_(uniforms[:, start:start + k])
                graph.replay()  # leaves the block's last codes in g_prev
                out[:, start:start + k] = g_codes
                start += k
            prev = g_prev.clone()
        if start < n:
            self._sample(prev, uniforms[:, start:], out[:, start:], temperature, top_p,
                         guidance)
        return out
