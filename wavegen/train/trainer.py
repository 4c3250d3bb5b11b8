"""The trainer: random segments, Adam, cross-entropy on mu-law targets, via accelerate.

``wavegen train --config C --data-dir D --exp-dir E`` where ``D`` holds ``train/`` and
``valid/`` dumps. Re-running the same command resumes from the newest checkpoint in ``E``.
``accelerate launch -m wavegen train ...`` runs the same command data-parallel.

Every process draws the same global batch from the same generator and trains on its own slice
(per micro-step), so the effective batch, and the loss sequence, do not depend on the number of
processes. SIGTERM/SIGINT stop after the current step with a checkpoint.

One step reads top to bottom: :func:`next_batch` draws a global batch, :func:`train_step`
makes one optimizer step on it, :func:`validate` scores the fixed validation batches and
:func:`checkpoint_payload` is what a checkpoint holds; :func:`train` is the loop around them
(logs, best and periodic checkpoints, signals). The run's state is a
:class:`~wavegen.train.state.TrainState`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from accelerate import Accelerator

from wavegen.config import load_config
from wavegen.data.segments import Batch
from wavegen.errors import WavegenError
from wavegen.models.io import model_payload, save_model
from wavegen.models.wavenet import WaveNet
from wavegen.progress import progress
from wavegen.train.checkpoint import save_best, save_checkpoint
from wavegen.train.discriminative import LN2, discriminative_loss, other_labels
from wavegen.train.logging import TrainLog, flat_config
from wavegen.train.signals import StopRequest
from wavegen.train.state import VALID_SEED, TrainState, init_state, lr_lambda

log = logging.getLogger(__name__)

# A batch's plan as the model's extra arguments: () without local conditioning, else
# (units (B, W) long, offset).
Plan = tuple[()] | tuple[torch.Tensor, int]


def nll_bits(model: torch.nn.Module, codes: torch.Tensor, cond: torch.Tensor,
             units: torch.Tensor | None = None, offset: int = 0) -> torch.Tensor:
    """Mean negative log-likelihood in bits per sample. codes (B, T + 1), cond (B, C), and a
    renderer's plan window units (B, W) with its offset (``WaveNet.forward``)."""
    logits = model(codes[:, :-1], cond, units, offset)  # (B, A, T)
    return F.cross_entropy(logits, codes[:, 1:]) / LN2


def split_batch(batch: Batch) -> tuple[torch.Tensor, torch.Tensor, Plan]:
    """(codes (B, T + 1), cond (B, C), plan) of a batch with or without a plan."""
    if len(batch) == 4:
        return batch[0], batch[1], (batch[2], batch[3])
    return batch[0], batch[1], ()


def plan_rows(plan: Plan, rows: slice, device: torch.device) -> Plan:
    """The rows of a plan on ``device`` (the offset is the same for every row)."""
    return (plan[0][rows].to(device), plan[1]) if len(plan) == 2 else ()


def drop_conditioning(cond: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Replace each row of ``cond`` (B, C) by zeros with probability ``p`` (the null label)."""
    if p <= 0:
        return cond
    keep = torch.rand(cond.shape[0], generator=gen) >= p  # (B,)
    return cond * keep.unsqueeze(1).to(cond.dtype)


def next_batch(state: TrainState) -> Batch:
    """The next global batch: codes (B, T + 1) long and cond (B, C), each row's conditioning
    replaced by the null label with probability ``train.cond_dropout``; for a renderer also
    the plan windows (B, W) long and their offset (the plan is never dropped)."""
    tc = state.cfg.train
    batch = state.sampler.batch(tc.batch_size, state.data_gen)
    cond = drop_conditioning(batch[1], tc.cond_dropout, state.data_gen)
    return (batch[0], cond, batch[2], batch[3]) if len(batch) == 4 else (batch[0], cond)


def train_step(state: TrainState, batch: Batch) -> dict[str, float] | None:
    """One optimizer step on a global batch (codes (B, T + 1), cond (B, C), and a renderer's
    plan): this process's rows of each micro-step, gradients accumulated over
    ``grad_accum_steps``, clipped, then Adam, the schedule and the EMA. Advances
    ``state.step``.

    With ``train.discriminative_weight`` > 0 the loss adds the genre-discriminative term
    (:mod:`wavegen.train.discriminative`; wrong labels drawn from the run's data stream) and
    the result also has ``gap_bits``: this process's mean gap between the wrong and the own
    labels' NLL. ``loss_bits`` stays the NLL under the own labels.

    Returns ``{"loss_bits", "grad_norm"}`` (the loss averaged over processes), or None when
    the loss or the gradient is not finite: the step is dropped (weights untouched) and
    counted in ``state.skipped``; ``train.max_nonfinite`` such steps in a row raise.
    """
    acc, tc = state.acc, state.cfg.train
    codes, cond, plan = split_batch(batch)
    rank, micro = acc.process_index, state.micro
    contrast = tc.discriminative_weight > 0
    if contrast:  # drawn on the global batch: every process draws the same
        other, usable = other_labels(cond, state.data_gen)
    loss = torch.zeros((), device=acc.device)
    gaps: list[float] = []
    for k in range(tc.grad_accum_steps):
        rows = slice((k * acc.num_processes + rank) * micro,
                     (k * acc.num_processes + rank + 1) * micro)
        last = k == tc.grad_accum_steps - 1
        with contextlib.nullcontext() if last else acc.no_sync(state.model):
            with acc.autocast():
                c, g = codes[rows].to(acc.device), cond[rows].to(acc.device)
                p = plan_rows(plan, rows, acc.device)
                if contrast:
                    total, nll, gap = discriminative_loss(
                        state.model, c, g, other[rows].to(acc.device),
                        usable[rows].to(acc.device), tc.discriminative_weight,
                        tc.discriminative_margin, *p)
                    gaps.append(float(gap))
                    part, nll = total / tc.grad_accum_steps, nll / tc.grad_accum_steps
                else:
                    part = nll_bits(state.model, c, g, *p) / tc.grad_accum_steps
                    nll = part.detach()
            acc.backward(part)
        loss = loss + nll
    grad_norm = acc.clip_grad_norm_(state.model.parameters(),
                                    tc.grad_clip if tc.grad_clip > 0 else math.inf)
    loss = acc.reduce(loss, "mean") if acc.num_processes > 1 else loss
    if not (bool(torch.isfinite(loss)) and bool(torch.isfinite(grad_norm))):
        state.opt.zero_grad(set_to_none=True)
        state.bad_in_a_row, state.skipped = state.bad_in_a_row + 1, state.skipped + 1
        log.warning("non-finite loss or gradient at step %d: step skipped (%d in a row)",
                    state.step + 1, state.bad_in_a_row)
        if state.bad_in_a_row >= tc.max_nonfinite:
            raise WavegenError(
                f"{state.bad_in_a_row} steps in a row had a non-finite loss or gradient; "
                f"stopped at step {state.step}. The last checkpoint in {state.exp_dir} is intact: "
                "lower train.learning_rate or set train.grad_clip, then re-run")
        return None
    state.bad_in_a_row = 0
    state.opt.step()
    state.sched.step()
    state.opt.zero_grad(set_to_none=True)
    state.step += 1
    if state.ema is not None:
        state.ema.update(acc.unwrap_model(state.model), state.step)
    out = {"loss_bits": loss.item(), "grad_norm": float(grad_norm)}
    if contrast:
        known = [g for g in gaps if math.isfinite(g)]
        out["gap_bits"] = sum(known) / len(known) if known else math.nan
    return out


def validate(state: TrainState) -> float:
    """Validation bits/sample of the weights used for synthesis (the average, if kept)."""
    net = state.ema.model if state.ema is not None else state.model
    net.eval()
    dev, every = state.acc.device, slice(None)
    with torch.no_grad(), state.acc.autocast():
        bits = [nll_bits(net, c.to(dev), g.to(dev), *plan_rows(p, every, dev)).item()
                for c, g, p in map(split_batch, state.valid_set)]
    state.model.train()
    return sum(bits) / len(bits)


def validate_gap(state: TrainState) -> float:
    """Mean gap, in bits/sample, between the validation segments' NLL under a wrong label
    and under their own (the weights :func:`validate` scores; wrong labels drawn from a
    fixed seed, so the same every time). NaN if no segment has a label."""
    net = state.ema.model if state.ema is not None else state.model
    gen = torch.Generator().manual_seed(VALID_SEED)
    total, n, dev = 0.0, 0, state.acc.device
    with torch.no_grad(), state.acc.autocast():
        for codes, cond, plan in map(split_batch, state.valid_set):
            other, usable = other_labels(cond, gen)
            if usable.any():
                _, _, gap = discriminative_loss(net, codes.to(dev), cond.to(dev),
                                                other.to(dev), usable.to(dev), 0.0, 0.0,
                                                *plan_rows(plan, slice(None), dev))
                total, n = total + float(gap) * int(usable.sum()), n + int(usable.sum())
    return total / n if n else math.nan


def checkpoint_payload(state: TrainState) -> dict:
    """A checkpoint: the model file's contents plus what a resume needs (optimizer, schedule,
    data position, EMA, counters) and the config."""
    cfg = state.cfg
    out = model_payload(state.acc.unwrap_model(state.model), cfg.sample_rate, state.vocab,
                        state.label_kind, cfg.train.cond_dropout > 0,
                        dataclasses.asdict(cfg.synth), state.tokenizer, cfg.level)
    out.update(optimizer=state.opt.state_dict(), scheduler=state.sched.state_dict(),
               data_rng=state.data_gen.get_state(), train_config=cfg.to_dict(),
               skipped=state.skipped, best_valid_bits=state.best)
    if state.ema is not None:
        out["ema_state_dict"] = state.ema.state_dict()
    return out


class _Window:
    """Training loss, gradient norm and throughput averaged between two log rows."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.tick, self.loss, self.norm, self.n = time.perf_counter(), 0.0, 0.0, 0
        self.gaps: list[float] = []

    def add(self, out: dict[str, float]) -> None:
        self.loss, self.norm, self.n = (self.loss + out["loss_bits"],
                                        self.norm + out["grad_norm"], self.n + 1)
        if math.isfinite(out.get("gap_bits", math.nan)):
            self.gaps.append(out["gap_bits"])

    def row(self, state: TrainState) -> dict[str, float]:
        """Averages since the last row (then starts a new window)."""
        tc = state.cfg.train
        sps = self.n * tc.batch_size * tc.segment_length / (time.perf_counter() - self.tick)
        row = {"step": state.step, "loss_bits": self.loss / self.n, "samples_per_s": sps,
               "skipped": state.skipped, "lr": float(state.sched.get_last_lr()[0]),
               "grad_norm": self.norm / self.n}
        if self.gaps:  # the discriminative term's gap (TensorBoard and trackers)
            row["gap_bits"] = sum(self.gaps) / len(self.gaps)
        self.reset()
        return row


def train(config: str | os.PathLike[str], data_dir: str | os.PathLike[str],
          exp_dir: str | os.PathLike[str], max_steps: int | None = None) -> dict[str, float]:
    """Train (or resume) an experiment. Returns the final metrics.

    Args:
        config: YAML experiment config.
        data_dir: folder with ``train/`` and ``valid/`` dumps.
        exp_dir: where checkpoints, ``model.pt``, ``config.yaml``, ``train_log.csv`` and
            ``tensorboard/`` go.
        max_steps: overrides ``train.max_steps``.

    Returns:
        ``step``, ``loss_bits``, ``valid_bits``, ``samples_per_s``, ``skipped``, with the
        discriminative term ``valid_gap_bits`` (:func:`validate_gap`) when the last row was a
        validation, and, when a signal stopped the run early, ``stopped_by`` (the signal
        number).
    """
    cfg = load_config(config)
    if max_steps is not None:
        cfg.train.max_steps = max_steps
    tc, exp_dir = cfg.train, Path(exp_dir)
    state = init_state(cfg, Path(data_dir), exp_dir, config)
    acc = state.acc
    if tc.log_with:  # one tracker run per run or resume, named after the experiment folder
        acc.init_trackers(exp_dir.resolve().name, config=flat_config(cfg.to_dict()))
    logger = (TrainLog(exp_dir, state.step, tc.tensorboard,
                       (lambda s, n: acc.log(s, step=n)) if tc.log_with else None)
              if acc.is_main_process else None)
    metrics: dict[str, float] = {"step": state.step}
    bar = progress(total=tc.max_steps, initial=state.step, desc="train", unit="step",
                   disable=not acc.is_main_process)
    state.model.train()
    window = _Window()
    try:
        with StopRequest() as stop:
            while state.step < tc.max_steps:
                out = train_step(state, next_batch(state))
                if out is None:
                    continue
                window.add(out)
                bar.update(1)
                step = state.step
                valid = (validate(state) if step % tc.valid_every == 0 or step == tc.max_steps
                         else None)
                if step % tc.log_every == 0 or valid is not None:
                    row = window.row(state)
                    metrics = {k: row[k] for k in ("step", "loss_bits", "samples_per_s",
                                                   "skipped")}
                    if valid is not None:
                        metrics["valid_bits"] = valid
                        if tc.discriminative_weight > 0:
                            metrics["valid_gap_bits"] = validate_gap(state)
                            log.info("step %d: validation %.4f bits/sample, own label "
                                     "%.4f bits/sample better than a wrong one", step, valid,
                                     metrics["valid_gap_bits"])
                    bar.set_postfix(loss=f"{row['loss_bits']:.3f}",
                                    sps=f"{row['samples_per_s']:,.0f}",
                                    **({"valid": f"{valid:.3f}"} if valid is not None else {}))
                    if logger is not None:
                        logger.write({**row, "valid_bits": valid})
                if valid is not None and valid < state.best:
                    state.best = valid
                    if acc.is_main_process:
                        save_best(exp_dir, step, valid, checkpoint_payload(state))
                stopping = _agree(acc, stop.signum is not None)
                if step % tc.checkpoint_every == 0 or step == tc.max_steps or stopping:
                    if acc.is_main_process:
                        save_checkpoint(exp_dir, step, checkpoint_payload(state),
                                        keep=tc.keep_checkpoints)
                if stopping:
                    log.warning("%s: stopped at step %d; checkpoint saved, re-run the same "
                                "command to resume", stop.name or "signal", step)
                    metrics.update(step=step, stopped_by=stop.signum or 0)
                    break
    finally:
        bar.close()
        if logger is not None:
            logger.close()
        if tc.log_with:
            acc.end_training()
    if "stopped_by" in metrics:
        return metrics
    if acc.is_main_process:
        final = cast(WaveNet, state.ema.model if state.ema is not None
                     else acc.unwrap_model(state.model))
        save_model(exp_dir / "model.pt", final, cfg.sample_rate, state.vocab, state.label_kind,
                   tc.cond_dropout > 0, dataclasses.asdict(cfg.synth), state.tokenizer,
                   cfg.level)
        if "valid_bits" not in metrics:
            metrics["valid_bits"] = validate(state)
        log.info("done: step %d, validation %.4f bits/sample; model in %s", state.step,
                 metrics["valid_bits"], exp_dir / "model.pt")
    if acc.num_processes > 1:  # replicas must agree; the log shows it
        checksum = sum(p.detach().double().sum().item() for p in state.model.parameters())
        log.info("process %d/%d: parameter checksum %.12e", acc.process_index,
                 acc.num_processes, checksum)
    acc.wait_for_everyone()
    return metrics


def _agree(acc: Accelerator, flag: bool) -> bool:
    """True on every process if any process has ``flag`` set (so all stop at the same step)."""
    if acc.num_processes == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=acc.device)
    return bool(acc.reduce(t, "sum").item() > 0)


__all__ = ["VALID_SEED", "checkpoint_payload", "drop_conditioning", "lr_lambda", "next_batch",
           "nll_bits", "split_batch", "train", "train_step", "validate", "validate_gap"]
