"""The live player: one generation thread that stays a little ahead of the browser's playhead.

The thread pulls one control block (``control_every`` samples, 50 ms) at a time from
:func:`wavegen.engine.stream`, whose ``cond_at``/``sampling_at`` read the controls in force when
the block starts: a change reaches the next block, and the engine's caches carry on across it
(only the conditioning's projection changes). It generates while the audio it has sent is less
than ``lead`` seconds ahead of where the page reports its playhead, so a change is heard at most
about ``lead`` + one block after it arrives.

The web server (:mod:`wavegen.live.server`) calls the methods below from its event loop; they
only take a lock for a moment. The thread hands audio and events back through ``emit``, which
must not block (the server posts them to its loop).

Audio frames (binary): a 16-byte header, ``uint32 take``, ``uint32 n``, ``float64 start`` (the
first sample's index in the take), then ``n`` int16 samples, little-endian. The int16 values
are what ``wavegen synth`` writes to a 16-bit WAV for the same codes (the same decode and the
same libsndfile conversion).
"""

from __future__ import annotations

import io
import logging
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import soundfile as sf
import torch

from wavegen.audio import mu_law_decode
from wavegen.engine import stream
from wavegen.engine.controls import control_every
from wavegen.errors import WavegenError
from wavegen.live.controls import ControlLog, Controls, apply_change, condition_of
from wavegen.live.plan_ahead import PlanAhead
from wavegen.models.two_level import TwoLevel
from wavegen.models.weights import WaveNetWeights
from wavegen.units.plan import make_plan

log = logging.getLogger(__name__)

HEADER = struct.Struct("<IId")  # take, samples in the frame, first sample's index
ENDLESS = 1 << 46  # samples: a take ends when the page starts another or leaves
Emit = Callable[[str, Any], None]


def pcm16(codes: torch.Tensor, n_classes: int, rate: int) -> bytes:
    """Codes (n,) -> little-endian int16 bytes, converted by libsndfile as ``synth`` writes
    its WAVs."""
    audio = mu_law_decode(codes, n_classes).numpy()
    buf = io.BytesIO()
    sf.write(buf, audio, rate, subtype="PCM_16", format="RAW", endian="LITTLE")
    return buf.getvalue()


@dataclass
class ModelInfo:
    """What the player needs of a loaded model."""

    weights: WaveNetWeights
    vocab: list[str]
    label_kind: str
    rate: int
    guided: bool  # trained with conditioning dropout: the take runs the unconditional twins
    # A two-level model: the planner writes each take's plan ahead of the renderer
    # (``plan_ahead.py``), ``weights`` are the renderer's, the controls' sampling settings and
    # ``guided`` the planner's; the renderer samples with its stored defaults.
    two: TwoLevel | None = None


@dataclass
class _Pending:
    id: int
    playhead: float  # the page's playhead (samples) when the change arrived


@dataclass
class _Take:
    number: int
    seed: int
    controls: Controls
    log: ControlLog
    generated: int = 0
    played: int = 0
    played_at: float = 0.0  # monotonic time of the page's last report
    playing: bool = False  # the page's worklet is consuming audio
    ready: bool = False  # the page's worklet has reported on this take: generate for it
    pending: list[_Pending] = field(default_factory=list)
    max_latency_ms: float = 0.0
    plan: PlanAhead | None = None  # a two-level model's plan of this take


class LivePlayer:
    """Generation for one listener at a time.

    Args:
        model: the loaded model.
        controls: the controls a take starts with.
        engine, device, threads: as for ``wavegen synth``.
        lead: seconds of audio to keep ahead of the playhead.
    """

    def __init__(self, model: ModelInfo, controls: Controls, engine: str = "auto",
                 device: str = "cpu", lead: float = 0.15, threads: int | None = 1) -> None:
        self.model = model
        self.engine = engine
        self.threads = threads
        self.device = device
        self.lead_samples = int(round(lead * model.rate))
        self.control_every = control_every(model.rate)
        self.start_controls = controls
        self._cond = threading.Condition()
        self._emit: Emit | None = None
        self._take: _Take | None = None
        self._takes = 0
        self._paused = False
        self._stopped = False
        self._busy = [0.0, 0]  # seconds generating, samples generated (since the last stats)
        self._vectors: dict[Controls, torch.Tensor] = {}
        self._thread = threading.Thread(target=self._run, name="wavegen-live", daemon=True)
        self._thread.start()

    # -- called from the server's event loop ------------------------------------------------
    def connect(self, emit: Emit, seed: int) -> dict[str, Any]:
        """A listener arrived: start a take for them; returns the page's ``hello``."""
        with self._cond:
            self._emit = emit
            self._paused = False
            take = self._new_take(seed, self.start_controls)
        return {**self._take_message(take), "type": "hello", "rate": self.model.rate,
                "labels": self.model.vocab, "label_kind": self.model.label_kind,
                "guided": self.model.guided, "control_every": self.control_every,
                "lead_ms": 1000 * self.lead_samples / self.model.rate}

    def disconnect(self) -> None:
        with self._cond:
            self._emit = None
            self._take = None
            self._cond.notify_all()

    def new_take(self, seed: int) -> dict[str, Any]:
        """Start again from silence with ``seed``, keeping the current controls."""
        with self._cond:
            controls = self._take.controls if self._take else self.start_controls
            return self._take_message(self._new_take(seed, controls))

    def change(self, change: dict[str, Any], msg_id: int) -> None:
        """Check a ``controls`` message and make it the controls of the next block.

        Raises:
            WavegenError: a bad value (the controls stay as they were).
        """
        with self._cond:
            take = self._require_take()
            take.controls = apply_change(take.controls, change, self.model.vocab,
                                         self.model.label_kind, self.model.guided)
            take.pending.append(_Pending(msg_id, self._playhead(take)))
            self._cond.notify_all()

    def played(self, take_number: int, samples: int, playing: bool) -> None:
        """The page's playhead report (stale takes are ignored)."""
        with self._cond:
            take = self._take
            if take is None or take_number != take.number:
                return
            take.played = min(max(samples, take.played), take.generated)
            take.played_at = time.monotonic()
            take.playing = playing
            take.ready = True
            self._cond.notify_all()

    def pause(self, paused: bool) -> None:
        with self._cond:
            self._paused = paused
            self._cond.notify_all()

    def recording(self, take_number: int, samples: int) -> dict[str, Any]:
        """The automation file of the first ``samples`` of a take, with how to render it."""
        with self._cond:
            take = self._require_take()
            if take_number != take.number:
                raise WavegenError("that take is over: record again")
            if not 0 < samples <= take.generated:
                raise WavegenError(f"samples must be 1..{take.generated} (generated so far), "
                                   f"got {samples}")
            auto = take.log.automation(samples, self.model.label_kind)
            out = {"type": "recording", "take": take.number, "seed": take.seed,
                   "samples": samples, "seconds": samples / self.model.rate,
                   "automation": auto}
            if take.plan is not None and self.model.two is not None:
                units = take.plan.plan_of(samples).numpy()
                out["plan"] = make_plan(units, self.model.two.tokenizer.identity()).to_json()
            return out

    def stats(self) -> dict[str, Any]:
        """Generation speed since the last call (x real time while generating) and the lead."""
        with self._cond:
            seconds, samples = self._busy
            self._busy = [0.0, 0]
            take = self._take
            lead = (take.generated - self._playhead(take)) if take else 0.0
            return {"type": "stats",
                    "speed": samples / seconds / self.model.rate if seconds > 0 else None,
                    "lead_ms": 1000 * lead / self.model.rate,
                    "generated": take.generated if take else 0,
                    "max_latency_ms": take.max_latency_ms if take else 0.0}

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=10)

    # -- helpers (hold the lock) -------------------------------------------------------------
    def _new_take(self, seed: int, controls: Controls) -> _Take:
        self._takes += 1  # numbered over the server's life: a late frame never looks current
        self._take = _Take(self._takes, seed, controls, ControlLog(self.control_every,
                                                              self.model.rate))
        self._cond.notify_all()
        return self._take

    def _take_message(self, take: _Take) -> dict[str, Any]:
        return {"type": "take", "take": take.number, "seed": take.seed,
                "controls": {"weights": dict(take.controls.mix),
                             "temperature": take.controls.temperature,
                             "top_p": take.controls.top_p,
                             "guidance": take.controls.guidance}}

    def _require_take(self) -> _Take:
        if self._take is None:
            raise WavegenError("no take is playing: press play")
        return self._take

    def _playhead(self, take: _Take) -> float:
        """Where the page is now (samples): its last report, moved on by the time since."""
        moved = (time.monotonic() - take.played_at) * self.model.rate if take.playing else 0
        return min(take.played + moved, take.generated)

    def _wanted(self) -> _Take | None:
        """The take to generate a block of now, or None to wait."""
        take = self._take
        if take is None or not take.ready or self._paused or self._emit is None:
            return None
        return take if take.generated - self._playhead(take) < self.lead_samples else None

    # -- the generation thread ---------------------------------------------------------------
    def _warm_up(self) -> None:
        """Generate a few blocks that nobody hears: the engine's compiled kernel is loaded and
        its memory touched before the first listener's take has to keep time."""
        warm = _Take(0, 0, self.start_controls, ControlLog(self.control_every, self.model.rate))
        chunks = self._chunks(warm)
        for _ in range(4):
            next(chunks)

    def _run(self) -> None:
        try:
            self._warm_up()
        except Exception:  # the take will report it to the page
            log.exception("warming up the engine failed")
        chunks: Iterator[torch.Tensor] = iter(())
        current: _Take | None = None
        while True:
            with self._cond:
                take = self._wanted()
                while take is None and not self._stopped:
                    self._cond.wait(timeout=0.005)
                    take = self._wanted()
                if self._stopped:
                    return
                emit = self._emit
            assert take is not None and emit is not None
            if take is not current:
                current = take
                chunks = self._chunks(take)
            try:
                t0 = time.perf_counter()
                codes = next(chunks)  # (1, control_every)
                busy = time.perf_counter() - t0
            except Exception as err:  # never leave the page without a word
                log.exception("live generation failed")
                emit("event", {"type": "error", "message": f"generation stopped: {err}"})
                with self._cond:
                    if self._take is take:
                        self._take = None
                continue
            frame = HEADER.pack(take.number, codes.shape[1], float(take.generated))
            frame += pcm16(codes[0], self.model.weights.n_classes, self.model.rate)
            with self._cond:
                if self._take is not take:
                    continue  # a new take started meanwhile: drop the old one's block
                take.generated += codes.shape[1]
                self._busy[0] += busy
                self._busy[1] += codes.shape[1]
                emit = self._emit
            if emit is not None:
                emit("audio", frame)

    def _chunks(self, take: _Take) -> Iterator[torch.Tensor]:
        """The take's endless stream of control blocks (generated in this thread)."""
        c0 = self._vector(take.controls)
        t, p, g = take.controls.settings()
        two = self.model.two
        if two is not None:
            return self._rendered(take, two, c0)
        return stream(self.model.weights, c0[None], ENDLESS, engine=self.engine,
                      temperature=t, top_p=p, guidance=g, seed=take.seed,
                      chunk_size=self.control_every, device=self.device,
                      cond_at=lambda start: self._controls_at(take, start)[None],
                      control_every=self.control_every,
                      sampling_at=lambda start: self._read(take, start).settings(),
                      guided=self.model.guided, threads=self.threads)

    def _rendered(self, take: _Take, two: TwoLevel, c0: torch.Tensor) -> Iterator[torch.Tensor]:
        """A two-level take: the planner's plan (:class:`PlanAhead`, reading the controls in
        force) rendered block by block with the renderer's stored sampling settings; the
        label reaches the renderer at its blocks as with a one-level model (and is logged)."""
        def now() -> Controls:
            with self._cond:
                return take.controls

        plan = PlanAhead(two, lambda: self._vector(now()), lambda: now().settings(),
                         take.seed, self.model.guided, self.engine, self.device, self.threads)
        take.plan = plan
        first = plan.local_at(0)
        r = two.renderer_info.synth_defaults
        guidance = r.get("guidance", 1.0)
        return stream(self.model.weights, c0[None], ENDLESS, engine=self.engine,
                      temperature=r.get("temperature", 1.0), top_p=r.get("top_p", 1.0),
                      guidance=guidance, guided=guidance != 1.0, seed=take.seed,
                      chunk_size=self.control_every, device=self.device,
                      cond_at=lambda start: self._controls_at(take, start)[None],
                      control_every=self.control_every, local=first,
                      local_at=plan.local_at, threads=self.threads)

    def _read(self, take: _Take, start: int) -> Controls:
        """The controls of the block at ``start`` (recorded once, when ``cond_at`` reads it)."""
        return take.log.changes[-1][1] if take.log.changes else take.controls

    def _controls_at(self, take: _Take, start: int) -> torch.Tensor:
        """``cond_at`` of the take's stream: the controls now in force, recorded for the
        block starting at ``start``; answers the changes that reach the page from here."""
        with self._cond:
            controls = take.controls
            pending, take.pending = take.pending, []
            take.log.record(start, controls)
            emit = self._emit if self._take is take else None
        for change in pending:
            latency = 1000 * (start - change.playhead) / self.model.rate
            take.max_latency_ms = max(take.max_latency_ms, latency)
            if emit is not None:
                emit("event", {"type": "applied", "id": change.id, "take": take.number,
                               "sample": start, "latency_ms": round(latency, 1)})
        return self._vector(controls)

    def _vector(self, controls: Controls) -> torch.Tensor:
        if controls not in self._vectors:
            if len(self._vectors) > 256:
                self._vectors.clear()
            self._vectors[controls] = condition_of(controls, self.model.vocab,
                                                   self.model.label_kind)
        return self._vectors[controls]


__all__ = ["HEADER", "LivePlayer", "ModelInfo", "pcm16"]
