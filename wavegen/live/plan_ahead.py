"""A live take of a two-level model: the planner writes the plan a little ahead of the renderer.

The planner runs its own endless stream (frames at 50 per second), a chunk of ``PLAN_CHUNK``
frames at a time, reading the take's controls in force when each of its control blocks starts
(the label, and the temperature, top-p and guidance, which act on the planner). The renderer's
stream reads the plan through ``stream(..., local_at=...)``: before each of its blocks,
:meth:`PlanAhead.local_at` makes sure the table reaches ``LEAD_FRAMES`` frames past the block
and hands the engine the longer table when it grew. The table grows by whole blocks of the
frame network (``WaveNet.frame_blocks``), each computed once the frames it looks ahead to are
planned, so it is bit for bit the table ``synth --plan`` computes from the recorded plan.

A change of the label reaches the renderer at its next block, as with a one-level model; the
plan follows within about ``LEAD_FRAMES`` frames. The table grows by the renderer's
``L x G`` floats per frame (5 KB for the renderer of conf/train_renderer.yaml: 15 MB a minute).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import torch

from wavegen.engine import stream
from wavegen.engine.controls import control_every
from wavegen.models.two_level import TwoLevel
from wavegen.models.wavenet import PLAN_BLOCK
from wavegen.models.weights import LocalBias
from wavegen.two_level_synth import planner_seed
from wavegen.units.codes import codes_to_units, fill_starts

PLAN_CHUNK = 10  # frames the planner draws per call (0.2 s at 50 frames/s)
LEAD_FRAMES = 15  # frames planned past the renderer's block (0.3 s at 50 frames/s)
ENDLESS_FRAMES = 1 << 36


class PlanAhead:
    """The plan of one live take.

    Args:
        two: the two-level model.
        cond_at: the take's label now (C,), read by the planner at its control blocks.
        settings_at: the take's (temperature, top_p, guidance) now.
        seed: the take's seed (the planner draws from :func:`planner_seed` of it).
        guided: run the planner's unconditional twins.
    """

    def __init__(self, two: TwoLevel, cond_at: Callable[[], torch.Tensor],
                 settings_at: Callable[[], tuple[float, float, float]], seed: int,
                 guided: bool, engine: str = "auto", device: str = "cpu",
                 threads: int | None = 1) -> None:
        self.two, self.device = two, device
        self.hop, self.ctx = two.hop, two.renderer.cfg.unit_context
        c0 = cond_at()
        t, p, g = settings_at()
        self._lock = threading.Lock()
        self._frames: Iterator[torch.Tensor] = stream(
            two.planner.export_weights(), c0[None], ENDLESS_FRAMES, engine=engine,
            temperature=t, top_p=p, guidance=g, guided=guided, seed=planner_seed(seed),
            chunk_size=PLAN_CHUNK, control_every=control_every(two.frame_rate),
            cond_at=lambda f: cond_at()[None], sampling_at=lambda f: settings_at(),
            device=device, threads=threads)
        self.units = torch.zeros(1, 0, dtype=torch.long)  # (1, F) planned so far
        self._table = torch.zeros(1, 0, two.renderer.cfg.n_layers,
                                  two.renderer.cfg.gate_channels)
        self.blocks = 0  # blocks of PLAN_BLOCK frames in the table

    def _plan_more(self) -> None:
        units = codes_to_units(next(self._frames), self.two.n_units)  # (1, PLAN_CHUNK)
        if self.units.shape[1]:  # a start symbol holds the frame before it
            units = fill_starts(torch.cat([self.units[:, -1:], units], 1))[:, 1:]
        else:
            units = fill_starts(units)
        with self._lock:
            self.units = torch.cat([self.units, units], 1)

    def local_at(self, sample: int) -> LocalBias | None:
        """The renderer's plan before its block at ``sample`` (None: the current one still
        reaches ``LEAD_FRAMES`` frames past it)."""
        need = (sample // self.hop) + LEAD_FRAMES  # the last frame the table must hold
        if self.blocks * PLAN_BLOCK > need:
            return None
        blocks = need // PLAN_BLOCK + 1
        # A block is final once the frames it looks ahead to are planned.
        while self.units.shape[1] < blocks * PLAN_BLOCK + self.ctx:
            self._plan_more()
        fresh = self.two.renderer.frame_blocks(self.units, self.blocks, blocks)
        self._table = torch.cat([self._table, fresh.cpu()], 1)
        self.blocks = blocks
        return LocalBias(self._table.to(self.device), self.hop)

    def plan_of(self, samples: int) -> torch.Tensor:
        """The units (F,) of the first ``samples`` samples' frames and of the frames their
        biases looked ahead to (for a recording: ``synth --plan`` renders it the same)."""
        with self._lock:
            return self.units[0, :-(-samples // self.hop) + self.ctx].clone()
