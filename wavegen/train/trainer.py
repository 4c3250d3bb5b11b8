"""The trainer: random segments, Adam, cross-entropy on mu-law targets, via accelerate.

``wavegen train --config C --data-dir D --exp-dir E`` where ``D`` holds ``train/`` and
``valid/`` dumps. Re-running the same command resumes from the newest checkpoint in ``E``.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from accelerate import Accelerator
from tqdm import tqdm

from wavegen.config import ExperimentConfig, load_config
from wavegen.data.dump import DumpStore
from wavegen.data.segments import SegmentSampler
from wavegen.errors import WavegenError
from wavegen.models.io import model_payload, save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.train.checkpoint import load_latest, save_checkpoint

log = logging.getLogger(__name__)

VALID_SEED = 20240613
LN2 = math.log(2.0)


def lr_lambda(cfg: ExperimentConfig):
    """Linear warm-up, then cosine decay to ``lr_min_ratio``. step -> multiplier."""
    t = cfg.train

    def schedule(step: int) -> float:
        if step < t.warmup_steps:
            return (step + 1) / t.warmup_steps
        progress = min(1.0, (step - t.warmup_steps) / max(1, t.max_steps - t.warmup_steps))
        return t.lr_min_ratio + (1 - t.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return schedule


def nll_bits(model: torch.nn.Module, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood in bits per sample. codes (B, T + 1), cond (B, C)."""
    logits = model(codes[:, :-1], cond)  # (B, A, T)
    return F.cross_entropy(logits, codes[:, 1:]) / LN2


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


def train(config: str | os.PathLike[str], data_dir: str | os.PathLike[str],
          exp_dir: str | os.PathLike[str], max_steps: int | None = None) -> dict[str, float]:
    """Train (or resume) an experiment. Returns the final metrics.

    Args:
        config: YAML experiment config.
        data_dir: folder with ``train/`` and ``valid/`` dumps.
        exp_dir: where checkpoints, ``model.pt``, ``config.yaml`` and ``train_log.csv`` go.
        max_steps: overrides ``train.max_steps``.
    """
    cfg = load_config(config)
    if max_steps is not None:
        cfg.train.max_steps = max_steps
    tc = cfg.train
    data_dir, exp_dir = Path(data_dir), Path(exp_dir)
    train_store, valid_store = _open_stores(data_dir, cfg)
    vocab = train_store.vocab
    cfg.model = WaveNetConfig(**{**cfg.model.__dict__, "n_cond": len(vocab)})

    acc = Accelerator()
    torch.manual_seed(tc.seed)
    model = WaveNet(cfg.model)
    opt = torch.optim.Adam(model.parameters(), lr=tc.learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    data_gen = torch.Generator().manual_seed(tc.seed * 1000 + acc.process_index)
    step = 0
    ckpt = load_latest(exp_dir)
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        data_gen.set_state(ckpt["data_rng"])
        step = int(ckpt["step"])
        log.info("resuming %s from step %d", exp_dir, step)
    model, opt = acc.prepare(model, opt)

    exp_dir.mkdir(parents=True, exist_ok=True)
    if acc.is_main_process:
        (exp_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    sampler = SegmentSampler(train_store, tc.segment_length, cfg.model.n_classes)
    valid_sampler = SegmentSampler(valid_store, tc.segment_length, cfg.model.n_classes)
    valid_gen = torch.Generator().manual_seed(VALID_SEED)
    valid_set = [valid_sampler.batch(tc.batch_size, valid_gen) for _ in range(tc.valid_batches)]
    label_kind = train_store.label_kind

    def validate() -> float:
        model.eval()
        with torch.no_grad():
            bits = [nll_bits(model, c.to(acc.device), g.to(acc.device)).item()
                    for c, g in valid_set]
        model.train()
        return sum(bits) / len(bits)

    def checkpoint(at: int) -> None:
        if acc.is_main_process:
            payload = model_payload(acc.unwrap_model(model), cfg.sample_rate, vocab, label_kind)
            payload.update(optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                           data_rng=data_gen.get_state(), train_config=cfg.to_dict())
            save_checkpoint(exp_dir, at, payload)

    log_path = exp_dir / "train_log.csv"
    new_log = not log_path.exists()
    metrics: dict[str, float] = {"step": step}
    with open(log_path, "a", newline="") as log_fh:
        writer = csv.writer(log_fh)
        if new_log:
            writer.writerow(["step", "loss_bits", "valid_bits", "lr", "samples_per_s"])
        bar = tqdm(total=tc.max_steps, initial=step, desc="train", unit="step",
                   disable=not acc.is_main_process, dynamic_ncols=True)
        model.train()
        tick, loss_sum, n_loss = time.perf_counter(), 0.0, 0
        while step < tc.max_steps:
            codes, cond = sampler.batch(tc.batch_size, data_gen)
            loss = nll_bits(model, codes.to(acc.device), cond.to(acc.device))
            acc.backward(loss)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            loss_sum, n_loss = loss_sum + loss.item(), n_loss + 1
            bar.update(1)
            valid = validate() if step % tc.valid_every == 0 or step == tc.max_steps else None
            if step % tc.log_every == 0 or valid is not None:
                elapsed = time.perf_counter() - tick
                sps = n_loss * tc.batch_size * tc.segment_length * acc.num_processes / elapsed
                metrics = {"step": step, "loss_bits": loss_sum / n_loss, "samples_per_s": sps}
                if valid is not None:
                    metrics["valid_bits"] = valid
                bar.set_postfix(loss=f"{loss_sum / n_loss:.3f}", sps=f"{sps:,.0f}",
                                **({"valid": f"{valid:.3f}"} if valid is not None else {}))
                if acc.is_main_process:
                    writer.writerow([step, f"{loss_sum / n_loss:.4f}",
                                     "" if valid is None else f"{valid:.4f}",
                                     f"{sched.get_last_lr()[0]:.3g}", f"{sps:.0f}"])
                    log_fh.flush()
                tick, loss_sum, n_loss = time.perf_counter(), 0.0, 0
            if step % tc.checkpoint_every == 0 or step == tc.max_steps:
                checkpoint(step)
        bar.close()
    if acc.is_main_process:
        save_model(exp_dir / "model.pt", acc.unwrap_model(model), cfg.sample_rate, vocab,
                   label_kind)
        if "valid_bits" not in metrics:
            metrics["valid_bits"] = validate()
        log.info("done: step %d, validation %.4f bits/sample; model in %s", step,
                 metrics["valid_bits"], exp_dir / "model.pt")
    acc.wait_for_everyone()
    return metrics
