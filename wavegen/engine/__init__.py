"""Generation: one front door, several engines that must agree with the reference.

Engines take exported :class:`~wavegen.models.weights.WaveNetWeights`, a conditioning
batch ``cond`` (B, C) and optionally a local-conditioning plan
(:class:`~wavegen.models.weights.LocalBias`). Each implements ``step(codes (B,)) -> logits
(B, A)``; the loop here feeds back sampled codes, drawing every sample from caller-visible
uniform random numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from wavegen.audio import silence_code
from wavegen.config import check_sampling
from wavegen.engine.cached import CachedEngine
from wavegen.engine.graph import GraphEngine
from wavegen.engine.local import check_plan_covers, checked_local
from wavegen.engine.protocol import Engine, FusedEngine
from wavegen.engine.reference import ReferenceEngine, forward_weights
from wavegen.engine.sampling import guided_step, sample_from_logits

try:  # numba is a dependency of wavegen: a failing import is an installation problem
    from wavegen.engine.cpu import CpuEngine
except ImportError as err:  # tested in a subprocess (tests/engine/test_protocol.py)
    raise ImportError(f"the cpu engine cannot load numba ({err}); numba is a dependency of "
                      "wavegen: reinstall it (pip install --force-reinstall numba) rather than "
                      "generating with a slower engine") from err
from wavegen.errors import WavegenError
from wavegen.models.local import check_units
from wavegen.models.wavenet import WaveNet
from wavegen.models.weights import LocalBias, WaveNetWeights

# name -> the engine's class (or a factory): ``(weights, cond)`` or ``(weights, cond,
# local=plan)``; a plan is passed only when there is one.
ENGINES: dict[str, Callable[..., Engine]] = {
    "reference": ReferenceEngine,
    "cached": CachedEngine,
    "graph": GraphEngine,
    "cpu": CpuEngine,
}
try:  # registered only when a GPU (or the Triton interpreter) can run it
    from wavegen.engine.triton_engine import TritonEngine, triton_usable

    if triton_usable():
        ENGINES["triton"] = TritonEngine
except ImportError:  # Triton is optional (the gpu extra)
    pass


# Per-layer fp32 weight bytes above which a GPU generates faster with one grid-wide kernel per
# product (the ``graph`` engine) than with the ``triton`` kernel, whose tiles each stream the
# weights through one SM per step (see docs/engines.md, "Choosing a GPU engine").
LARGE_LAYER_BYTES = 2 << 20


def layer_bytes(w: WaveNetWeights) -> int:
    """fp32 bytes of one residual layer's weights: gate (2R x G), skip (H x S), residual (H x R)."""
    R, G, S = w.residual_channels, w.gate_channels, w.skip_channels
    return 4 * (2 * R * G + G // 2 * (S + R))


def resolve_engine(name: str, device: str | torch.device = "cpu",
                   weights: WaveNetWeights | None = None) -> str:
    """Map ``auto`` to the fastest correct engine for the device (and, on CUDA, the model's
    size); reject unknown names."""
    if name == "auto":
        if torch.device(device).type == "cuda":
            if weights is not None and layer_bytes(weights) > LARGE_LAYER_BYTES:
                return "graph"
            return "triton" if "triton" in ENGINES else "graph"
        return "cpu" if "cpu" in ENGINES else "cached"
    if name not in ENGINES:
        raise WavegenError(f"unknown engine '{name}'; known: auto, {', '.join(ENGINES)}")
    return name


def _prepare(
    model_or_weights: WaveNet | WaveNetWeights, cond: torch.Tensor, device: str | torch.device
) -> tuple[WaveNetWeights, torch.Tensor]:
    w = (model_or_weights.export_weights() if isinstance(model_or_weights, WaveNet)
         else model_or_weights)
    if cond.dim() != 2 or cond.shape[1] != w.n_cond:
        raise WavegenError(
            f"conditioning must have shape (batch, {w.n_cond}), got {tuple(cond.shape)}"
        )
    return w.to(device), cond.to(device=device, dtype=torch.float32)


def build_engine(
    model_or_weights: WaveNet | WaveNetWeights, cond: torch.Tensor, engine: str = "auto",
    device: str | torch.device = "cpu", threads: int | None = None,
    local: LocalBias | None = None,
) -> Engine:
    """Instantiate an engine with fresh (silent) state for a conditioning batch (B, C).

    ``threads``: the cores the ``cpu`` engine uses (default: all usable; other engines ignore
    it). The cpu engine's results depend on it (how the work is split changes the order of
    some sums), so a render that must match another uses the same count. ``local``: a plan
    for the engine's rows, its table on ``device`` (step n reads frame ``n // hop``).
    """
    if threads is not None and threads < 1:
        raise WavegenError(f"threads must be >= 1, got {threads}")
    w, cond = _prepare(model_or_weights, cond, device)
    name = resolve_engine(engine, device, w)
    if name == "cpu" and threads is not None:
        return CpuEngine(w, cond, local, threads=threads)
    return ENGINES[name](w, cond) if local is None else ENGINES[name](w, cond, local=local)


def _plan(model_or_weights: WaveNet | WaveNetWeights, w: WaveNetWeights, rows: int,
          device: torch.device, local: LocalBias | None,
          units: torch.Tensor | None) -> LocalBias | None:
    """The checked plan of ``rows`` rows on ``device``: ``local`` as given, or the model's
    frame network run on ``units`` (B, F) long (``WaveNet.local_bias``); None for neither."""
    if units is not None:
        if local is not None:
            raise WavegenError("give a plan as local= or as units=, not both")
        local = _units_bias(model_or_weights, units, rows, device)
    return None if local is None else checked_local(local, w, rows, device)


def _units_bias(model: WaveNet | WaveNetWeights, units: torch.Tensor, rows: int,
                device: torch.device) -> LocalBias:
    """``model.local_bias(units)`` on ``device``; units need a WaveNet with a frame network."""
    if not isinstance(model, WaveNet):
        raise WavegenError("units= needs the model (exported weights have no frame network); "
                           "pass the WaveNet, or local=model.local_bias(units)")
    if model.cfg.n_units <= 0:
        raise WavegenError("units= needs a model with local conditioning (model.n_units > 0); "
                           "this one has none")
    units = check_units(units, model.cfg.n_units)
    if units.shape[0] != rows:
        raise WavegenError(f"units have {units.shape[0]} rows, the conditioning {rows}")
    with torch.no_grad():
        return model.local_bias(units).to(device)


def resolve_device(name: str | torch.device) -> torch.device:
    """A torch device that exists on this machine: ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        WavegenError: not a device name, a kind wavegen does not run on, or a CUDA device this
            machine does not have.
    """
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise WavegenError(f"--device {name!r} is not a device name; use cpu, cuda or "
                           "cuda:N") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise WavegenError(f"--device {name}: wavegen runs on cpu or cuda, not {dev.type}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise WavegenError(f"--device {name}: this machine has no usable CUDA GPU; use "
                           "--device cpu")
    if dev.index is not None and dev.index >= count:
        raise WavegenError(f"--device {name}: this machine has {count} CUDA device(s), "
                           f"cuda:0 .. cuda:{count - 1}")
    return dev


def stream(
    model_or_weights: WaveNet | WaveNetWeights,
    cond: torch.Tensor,
    n_samples: int,
    engine: str = "auto",
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int | None = None,
    uniforms: torch.Tensor | None = None,
    chunk_size: int = 4000,
    device: str | torch.device = "cpu",
    guidance: float = 1.0,
    primer: torch.Tensor | None = None,
    cond_at: Callable[[int], torch.Tensor] | None = None,
    control_every: int = 400,
    sampling_at: Callable[[int], tuple[float, float, float]] | None = None,
    guided: bool | None = None,
    threads: int | None = None,
    local: LocalBias | None = None,
    units: torch.Tensor | None = None,
    local_at: Callable[[int], LocalBias | None] | None = None,
) -> Iterator[torch.Tensor]:
    """Generate ``n_samples`` mu-law codes per batch row, yielding (B, <= chunk_size) chunks.

    Args:
        cond: (B, C) conditioning vectors (one-hot genre, a mix, or tags).
        seed: seeds the uniform random numbers (ignored when ``uniforms`` is given).
        uniforms: (B, n_samples) in [0, 1): the random numbers to sample with, for
            exactness tests across engines.
        guidance: classifier-free guidance scale ``s``: sample from
            ``uncond + s * (cond - uncond)`` logits, where ``uncond`` conditions on the zero
            vector (the null label of a model trained with ``cond_dropout``). 1 is plain
            conditional sampling; > 1 strengthens the conditioning. Both halves run as one
            batch of 2B rows.
        primer: (B, P) long codes to continue: teacher-forced through the same engine to
            fill its caches; only the continuation is yielded.
        cond_at: conditioning that changes over time: sample index (from the first generated
            sample) -> (B, C). Read at every ``control_every``-th sample and held until the
            next (``cond`` conditions the primer); the engines' caches carry on across a
            change, only the conditioning's projection changes (``Engine.set_cond``).
        sampling_at: sampling settings that change over time: sample index -> (temperature,
            top_p, guidance), read like ``cond_at`` (the arguments of the same names are then
            ignored). A guidance that ever leaves 1 needs ``guided=True``.
        guided: run the unconditional twins (2B rows); default: ``guidance != 1``.
        threads: the cores of the ``cpu`` engine (:func:`build_engine`).
        local: a plan: table (B, F, L, G) on ``device`` and hop. Step n of the engine reads
            frame ``n // hop``, counted from its silent start: a primer's steps consume the
            first frames (its first input, the silence code, is step 0) and the first
            generated sample is step P. It must cover the primer and ``n_samples`` (refused
            before anything is generated otherwise). Guided rows' unconditional twins read
            the same plan (guidance acts on the global label only).
        units: instead of ``local``, (B, F) long unit ids (-1: outside the plan) for a
            WaveNet with local conditioning, turned into its plan by ``model.local_bias``.
        local_at: a plan that grows while it is played (``wavegen live`` with a two-level
            model): sample index -> a longer plan (B, F', L, G) on ``device`` (frames still
            counted from step 0, the frames already played unchanged) or None to keep the
            current one; read at every ``control_every``-th sample like ``cond_at``, before
            the block is generated (``Engine.set_local``). ``local`` is then the plan of the
            first blocks and need not cover ``n_samples``; a block the plan does not reach is
            refused by the engine.

    Engines with a fused ``run(prev, uniforms, temperature, top_p, guidance)`` generate a
    whole chunk per call; others go through ``step`` sample by sample. Both sample
    identically (``sampling.sample_from_logits``).
    """
    if n_samples <= 0:
        raise WavegenError(f"number of samples must be positive, got {n_samples}")
    if control_every < 1:
        raise WavegenError(f"control_every must be >= 1, got {control_every}")
    check_sampling(temperature, top_p, guidance)
    device = resolve_device(device)
    B = cond.shape[0]
    guided = guidance != 1.0 if guided is None else guided
    if guidance != 1.0 and not guided:
        raise WavegenError(f"guidance {guidance} needs guided=True")
    if primer is not None and (primer.dim() != 2 or primer.shape[0] != B or primer.shape[1] < 1):
        raise WavegenError(f"primer must have shape ({B}, length >= 1), "
                           f"got {tuple(primer.shape)}")
    w, _ = _prepare(model_or_weights, cond, device)
    plan = _plan(model_or_weights, w, B, device, local, units)
    n_primer = 0 if primer is None else primer.shape[1]
    if local_at is not None and plan is None:
        raise WavegenError("local_at extends a plan: give the first blocks' plan as local=")
    check_plan_covers(plan, n_primer + (1 if local_at is not None else n_samples),
                      f"the primer ({n_primer}) and the samples ({n_samples})")
    eng = build_engine(w, torch.cat([cond, torch.zeros_like(cond)]) if guided else cond,
                       engine, device, threads,
                       plan.repeat_rows() if plan is not None and guided else plan)
    if uniforms is not None and tuple(uniforms.shape) != (B, n_samples):
        raise WavegenError(
            f"uniforms must have shape {(B, n_samples)}, got {tuple(uniforms.shape)}"
        )
    # Time-major draws from numpy's sequential generator: the same seed gives the same numbers
    # per (row, sample) whatever the chunk size.
    rng = np.random.default_rng(seed)
    n_classes = eng.w.n_classes
    prev = torch.full((B,), silence_code(n_classes), dtype=torch.long, device=device)
    fused = eng.run if isinstance(eng, FusedEngine) else None
    with torch.inference_mode():
        if primer is not None:
            inputs = torch.cat([prev[:, None], primer.to(device)[:, :-1]], 1)  # (B, P)
            inputs = torch.cat([inputs, inputs]) if guided else inputs
            if isinstance(eng, FusedEngine):
                eng.feed(inputs)
            else:
                for t in range(inputs.shape[1]):
                    eng.step(inputs[:, t])
            prev = primer[:, -1].to(device)
        for start in range(0, n_samples, chunk_size):
            n = min(chunk_size, n_samples - start)
            u = (uniforms[:, start:start + n] if uniforms is not None
                 else torch.from_numpy(rng.random((n, B), dtype=np.float32).T.copy()))
            u = u.to(device)
            parts = []
            moving = cond_at is not None or sampling_at is not None or local_at is not None
            for b0, b1 in _control_blocks(start, n, control_every if moving else n):
                if local_at is not None:
                    grown = local_at(b0)
                    if grown is not None:
                        grown = checked_local(grown, w, B, device)
                        eng.set_local(grown.repeat_rows() if guided else grown)
                if cond_at is not None:
                    c = _checked_cond(cond_at(b0), cond, b0)
                    eng.set_cond(torch.cat([c, torch.zeros_like(c)]) if guided else c)
                if sampling_at is not None:
                    temperature, top_p, guidance = sampling_at(b0)
                    check_sampling(temperature, top_p, guidance)
                    if guidance != 1.0 and not guided:
                        raise WavegenError(f"guidance {guidance} at sample {b0} needs "
                                           "guided=True")
                ub = u[:, b0 - start:b1 - start]
                if fused is not None:
                    out = fused(prev, ub, temperature, top_p, guidance)  # (B, b1 - b0)
                    prev = out[:, -1].to(device)
                else:
                    out = torch.empty(B, b1 - b0, dtype=torch.long, device=device)
                    for t in range(b1 - b0):
                        prev = guided_step(eng.step, prev, ub[:, t], temperature, top_p,
                                           guidance, guided)
                        out[:, t] = prev
                parts.append(out)
            yield torch.cat(parts, 1).cpu()


def _control_blocks(start: int, n: int, every: int) -> list[tuple[int, int]]:
    """[start, start + n) cut at the multiples of ``every``: [(b0, b1), ...]."""
    cuts = [start] + list(range((start // every + 1) * every, start + n, every)) + [start + n]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def _checked_cond(c: torch.Tensor, like: torch.Tensor, t: int) -> torch.Tensor:
    """A time-varying conditioning value: the shape of ``like`` (B, C) and finite."""
    if not isinstance(c, torch.Tensor) or tuple(c.shape) != tuple(like.shape):
        raise WavegenError(f"conditioning at sample {t} must have shape {tuple(like.shape)}, "
                           f"got {getattr(c, 'shape', type(c).__name__)}")
    if not bool(torch.isfinite(c).all()):
        raise WavegenError(f"conditioning at sample {t} holds inf or NaN")
    return c.to(like.device, torch.float32)


def generate(model_or_weights: WaveNet | WaveNetWeights, cond: torch.Tensor, n_samples: int,
             **kwargs) -> torch.Tensor:
    """Like :func:`stream` but returns all codes at once: (B, n_samples) long."""
    return torch.cat(list(stream(model_or_weights, cond, n_samples, **kwargs)), dim=1)


@torch.inference_mode()
def teacher_forced_logits(
    model_or_weights: WaveNet | WaveNetWeights, cond: torch.Tensor, codes: torch.Tensor,
    engine: str = "auto", device: str | torch.device = "cpu",
    local: LocalBias | None = None, units: torch.Tensor | None = None,
) -> torch.Tensor:
    """Feed the given codes (B, T) through an engine step by step -> logits (B, A, T).

    Equal, within float tolerance, to ``model(codes, cond)`` (``model(codes, cond, units)``
    with a plan; ``local`` and ``units`` as in :func:`stream`, covering T steps): the
    exactness check of engines.
    """
    device = torch.device(device)
    w, _ = _prepare(model_or_weights, cond, device)
    plan = _plan(model_or_weights, w, cond.shape[0], device, local, units)
    check_plan_covers(plan, codes.shape[1], f"the {codes.shape[1]} codes")
    eng = build_engine(w, cond, engine, device, local=plan)
    codes = codes.to(device)
    return torch.stack([eng.step(codes[:, t]) for t in range(codes.shape[1])], dim=2).cpu()


__all__ = ["ENGINES", "Engine", "FusedEngine", "build_engine", "forward_weights", "generate",
           "resolve_engine", "sample_from_logits", "stream", "teacher_forced_logits"]
