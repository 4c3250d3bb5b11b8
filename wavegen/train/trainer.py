"""The trainer: random segments, Adam, cross-entropy on mu-law targets, via accelerate.

``wavegen train --config C --data-dir D --exp-dir E`` where ``D`` holds ``train/`` and
``valid/`` dumps. Re-running the same command resumes from the newest checkpoint in ``E``.
``accelerate launch -m wavegen train ...`` runs the same command data-parallel.

Every process draws the same global batch from the same generator and trains on its own slice
(per micro-step), so the effective batch, and the loss sequence, do not depend on the number of
processes. SIGTERM/SIGINT stop after the current step with a checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from accelerate import Accelerator

from wavegen.config import ExperimentConfig, load_config
from wavegen.data.dump import DumpStore
from wavegen.data.segments import SegmentSampler
from wavegen.errors import WavegenError
from wavegen.machine import run_facts
from wavegen.models.io import model_payload, save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.progress import progress
from wavegen.train.checkpoint import load_latest, save_best, save_checkpoint
from wavegen.train.ema import EMA
from wavegen.train.logging import TrainLog, flat_config, require_trackers
from wavegen.train.precision import resolve_precision
from wavegen.train.signals import StopRequest

log = logging.getLogger(__name__)

VALID_SEED = 20240613
LN2 = math.log(2.0)


def lr_lambda(cfg: ExperimentConfig):
    """Linear warm-up, then cosine decay to ``lr_min_ratio``. step -> multiplier."""
    t = cfg.train

    def schedule(step: int) -> float:
        if step < t.warmup_steps:
            return (step + 1) / t.warmup_steps
        done = min(1.0, (step - t.warmup_steps) / max(1, t.max_steps - t.warmup_steps))
        return t.lr_min_ratio + (1 - t.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * done))

    return schedule


def nll_bits(model: torch.nn.Module, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood in bits per sample. codes (B, T + 1), cond (B, C)."""
    logits = model(codes[:, :-1], cond)  # (B, A, T)
    return F.cross_entropy(logits, codes[:, 1:]) / LN2


def drop_conditioning(cond: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Replace each row of ``cond`` (B, C) by zeros with probability ``p`` (the null label)."""
    if p <= 0:
        return cond
    keep = torch.rand(cond.shape[0], generator=gen) >= p  # (B,)
    return cond * keep.unsqueeze(1).to(cond.dtype)


def _open_stores(data_dir: Path, cfg: ExperimentConfig) -> tuple[DumpStore, DumpStore]:
    stores = []
    for name in ("train", "valid"):
        store = DumpStore(data_dir / name)
        if store.sample_rate != cfg.sample_rate:
            raise WavegenError(f"{store.path} was dumped at {store.sample_rate} Hz but the config "
                               f"asks for {cfg.sample_rate} Hz; re-run the dump stage")
        stores.append(store)
    if stores[0].vocab != stores[1].vocab:
        raise WavegenError(f"train and valid vocabularies differ in {data_dir}")
    return stores[0], stores[1]


ARCHITECTURE = ("n_classes", "residual_channels", "gate_channels", "skip_channels",
                "n_layers", "dilation_cycle", "n_cond")


def _check_same_architecture(ckpt: dict, model_cfg: WaveNetConfig, exp_dir: Path,
                             config: object) -> None:
    """Refuse to resume checkpoints of another network (a config edited after the start)."""
    saved = ckpt.get("model_config", {})
    diff = [f"{k} {saved.get(k)} there, {getattr(model_cfg, k)} in {config}"
            for k in ARCHITECTURE if saved.get(k) != getattr(model_cfg, k)]
    if diff:
        raise WavegenError(
            f"{exp_dir} holds checkpoints of a different network ({'; '.join(diff)}); resume "
            "with the config the experiment was started with, or train into a new --exp-dir")


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
        ``step``, ``loss_bits``, ``valid_bits``, ``samples_per_s``, ``skipped`` and, when a
        signal stopped the run early, ``stopped_by`` (the signal number).
    """
    cfg = load_config(config)
    if max_steps is not None:
        cfg.train.max_steps = max_steps
    tc = cfg.train
    data_dir, exp_dir = Path(data_dir), Path(exp_dir)
    train_store, valid_store = _open_stores(data_dir, cfg)
    vocab = train_store.vocab
    cfg.model = WaveNetConfig(**{**cfg.model.__dict__, "n_cond": len(vocab)})

    # cpu=True without CUDA: several CPU processes (torchrun, accelerate launch) then form a
    # gloo process group instead of running as independent copies.
    precision, why = resolve_precision(tc.mixed_precision,
                                       "cuda" if torch.cuda.is_available() else "cpu")
    require_trackers(tc.log_with)
    acc = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=precision,
                      log_with=tc.log_with or None, project_dir=str(exp_dir))
    micro, rank = _micro_batch(tc.batch_size, acc.num_processes, tc.grad_accum_steps), \
        acc.process_index
    torch.manual_seed(tc.seed)
    model = WaveNet(cfg.model)
    opt = torch.optim.Adam(model.parameters(), lr=tc.learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    # The same stream on every process: each one takes its slice of the same global batch.
    data_gen = torch.Generator().manual_seed(tc.seed * 1000)
    ema = EMA(model, tc.ema_decay) if tc.ema_decay > 0 else None
    step, skipped, best = 0, 0, math.inf
    ckpt = load_latest(exp_dir)
    if ckpt is not None:
        _check_same_architecture(ckpt, cfg.model, exp_dir, config)
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        data_gen.set_state(ckpt["data_rng"])
        if ema is not None:
            ema.load_state_dict(ckpt.get("ema_state_dict") or ckpt["state_dict"])
        step, skipped = int(ckpt["step"]), int(ckpt.get("skipped", 0))
        best = float(ckpt.get("best_valid_bits", math.inf))
        log.info("resuming %s from step %d", exp_dir, step)
    model, opt = acc.prepare(model, opt)
    if ema is not None:
        ema.model.to(acc.device)
    null_condition = tc.cond_dropout > 0
    synth_defaults = dataclasses.asdict(cfg.synth)

    exp_dir.mkdir(parents=True, exist_ok=True)
    if acc.is_main_process:
        log.info("precision: %s (train.mixed_precision %s; %s)",
                 "float32" if precision == "no" else f"{precision} autocast",
                 tc.mixed_precision, why)
        (exp_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        # One line per run or resume: what trained this folder, with which code, where, when.
        with open(exp_dir / "runs.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({**run_facts(str(acc.device)), "from_step": step,
                                 "to_step": tc.max_steps, "precision": precision,
                                 "processes": acc.num_processes}) + "\n")
    sampler = SegmentSampler(train_store, tc.segment_length, cfg.model.n_classes)
    valid_sampler = SegmentSampler(valid_store, tc.segment_length, cfg.model.n_classes)
    valid_gen = torch.Generator().manual_seed(VALID_SEED)
    valid_set = [valid_sampler.batch(tc.batch_size, valid_gen) for _ in range(tc.valid_batches)]
    label_kind = train_store.label_kind

    def validate() -> float:
        """Validation bits/sample of the weights used for synthesis (the average, if kept)."""
        net = ema.model if ema is not None else model
        net.eval()
        with torch.no_grad(), acc.autocast():
            bits = [nll_bits(net, c.to(acc.device), g.to(acc.device)).item()
                    for c, g in valid_set]
        model.train()
        return sum(bits) / len(bits)

    def payload() -> dict:
        out = model_payload(acc.unwrap_model(model), cfg.sample_rate, vocab, label_kind,
                            null_condition, synth_defaults)
        out.update(optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                   data_rng=data_gen.get_state(), train_config=cfg.to_dict(), skipped=skipped,
                   best_valid_bits=best)
        if ema is not None:
            out["ema_state_dict"] = ema.state_dict()
        return out

    if tc.log_with:  # one tracker run per run or resume, named after the experiment folder
        acc.init_trackers(exp_dir.resolve().name, config=flat_config(cfg.to_dict()))
    logger = (TrainLog(exp_dir, step, tc.tensorboard,
                       (lambda s, n: acc.log(s, step=n)) if tc.log_with else None)
              if acc.is_main_process else None)
    metrics: dict[str, float] = {"step": step}
    bar = progress(total=tc.max_steps, initial=step, desc="train", unit="step",
                   disable=not acc.is_main_process)
    model.train()
    tick, loss_sum, n_loss, norm_sum = time.perf_counter(), 0.0, 0, 0.0
    bad_in_a_row = 0
    try:
        with StopRequest() as stop:
            while step < tc.max_steps:
                codes, cond = sampler.batch(tc.batch_size, data_gen)  # the global batch
                cond = drop_conditioning(cond, tc.cond_dropout, data_gen)
                loss = torch.zeros((), device=acc.device)
                for k in range(tc.grad_accum_steps):
                    rows = slice((k * acc.num_processes + rank) * micro,
                                 (k * acc.num_processes + rank + 1) * micro)
                    last = k == tc.grad_accum_steps - 1
                    with contextlib.nullcontext() if last else acc.no_sync(model):
                        with acc.autocast():
                            part = nll_bits(model, codes[rows].to(acc.device),
                                            cond[rows].to(acc.device)) / tc.grad_accum_steps
                        acc.backward(part)
                    loss = loss + part.detach()
                grad_norm = acc.clip_grad_norm_(model.parameters(),
                                                tc.grad_clip if tc.grad_clip > 0 else math.inf)
                loss = acc.reduce(loss, "mean") if acc.num_processes > 1 else loss
                if not (bool(torch.isfinite(loss)) and bool(torch.isfinite(grad_norm))):
                    opt.zero_grad(set_to_none=True)
                    bad_in_a_row, skipped = bad_in_a_row + 1, skipped + 1
                    log.warning("non-finite loss or gradient at step %d: step skipped "
                                "(%d in a row)", step + 1, bad_in_a_row)
                    if bad_in_a_row >= tc.max_nonfinite:
                        raise WavegenError(
                            f"{bad_in_a_row} steps in a row had a non-finite loss or gradient; "
                            f"stopped at step {step}. The last checkpoint in {exp_dir} is "
                            "intact: lower train.learning_rate or set train.grad_clip, then "
                            "re-run")
                    continue
                bad_in_a_row = 0
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                if ema is not None:
                    ema.update(acc.unwrap_model(model), step)
                loss_sum, n_loss = loss_sum + loss.item(), n_loss + 1
                norm_sum += float(grad_norm)
                bar.update(1)
                valid = (validate() if step % tc.valid_every == 0 or step == tc.max_steps
                         else None)
                if step % tc.log_every == 0 or valid is not None:
                    elapsed = time.perf_counter() - tick
                    sps = n_loss * tc.batch_size * tc.segment_length / elapsed
                    metrics = {"step": step, "loss_bits": loss_sum / n_loss,
                               "samples_per_s": sps, "skipped": skipped}
                    if valid is not None:
                        metrics["valid_bits"] = valid
                    bar.set_postfix(loss=f"{loss_sum / n_loss:.3f}", sps=f"{sps:,.0f}",
                                    **({"valid": f"{valid:.3f}"} if valid is not None else {}))
                    if logger is not None:
                        logger.write({**metrics, "valid_bits": valid,
                                      "lr": sched.get_last_lr()[0],
                                      "grad_norm": norm_sum / n_loss})
                    tick, loss_sum, n_loss, norm_sum = time.perf_counter(), 0.0, 0, 0.0
                if valid is not None and valid < best:
                    best = valid
                    if acc.is_main_process:
                        save_best(exp_dir, step, valid, payload())
                stopping = _agree(acc, stop.signum is not None)
                if step % tc.checkpoint_every == 0 or step == tc.max_steps or stopping:
                    if acc.is_main_process:
                        save_checkpoint(exp_dir, step, payload(), keep=tc.keep_checkpoints)
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
        final = ema.model if ema is not None else acc.unwrap_model(model)
        save_model(exp_dir / "model.pt", final, cfg.sample_rate, vocab, label_kind,
                   null_condition, synth_defaults)
        if "valid_bits" not in metrics:
            metrics["valid_bits"] = validate()
        log.info("done: step %d, validation %.4f bits/sample; model in %s", step,
                 metrics["valid_bits"], exp_dir / "model.pt")
    if acc.num_processes > 1:  # replicas must agree; the log shows it
        checksum = sum(p.detach().double().sum().item() for p in model.parameters())
        log.info("process %d/%d: parameter checksum %.12e", rank, acc.num_processes, checksum)
    acc.wait_for_everyone()
    return metrics


def _micro_batch(batch_size: int, processes: int, accum: int) -> int:
    """Rows per process and micro-step of a global batch."""
    if batch_size % (processes * accum):
        raise WavegenError(
            f"train.batch_size {batch_size} must divide by processes x grad_accum_steps = "
            f"{processes} x {accum}; change one of them")
    return batch_size // (processes * accum)


def _agree(acc: Accelerator, flag: bool) -> bool:
    """True on every process if any process has ``flag`` set (so all stop at the same step)."""
    if acc.num_processes == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=acc.device)
    return bool(acc.reduce(t, "sum").item() > 0)
