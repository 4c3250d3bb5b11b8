"""What a training run holds between steps (:class:`TrainState`), and how it is set up: data
stores, model, optimizer, schedule, EMA, accelerate, and the resume from the newest checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import Accelerator
from accelerate.state import AcceleratorState

from wavegen.config import ExperimentConfig
from wavegen.data.dump import DumpStore
from wavegen.data.segments import Batch, PlanSegmentSampler, SegmentSampler
from wavegen.errors import WavegenError
from wavegen.machine import run_facts
from wavegen.models.io import load_model, safe_torch_load, tokenizer_problem
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.train.checkpoint import load_latest
from wavegen.train.ema import EMA
from wavegen.train.logging import require_trackers
from wavegen.train.precision import resolve_precision
from wavegen.units.store import UNITS_DIR, UnitStore

log = logging.getLogger(__name__)

VALID_SEED = 20240613  # the validation segments: the same for every run and resume

ARCHITECTURE = ("n_classes", "residual_channels", "gate_channels", "skip_channels",
                "n_layers", "dilation_cycle", "n_cond", "n_units")
# The frame network's shape: part of the architecture only where there is one (n_units > 0).
LOCAL_ARCHITECTURE = ("unit_hop", "unit_channels", "unit_layers", "unit_kernel")
TOKENIZER_FILE = "tokenizer.pt"


@dataclass
class TrainState:
    """Everything a training step reads or changes.

    ``exp_dir`` holds the run's checkpoints and logs; ``model`` and ``opt`` are wrapped by
    accelerate; ``data_gen`` draws the global batches (the same stream on every process);
    ``valid_set`` holds the fixed validation batches, each (codes (B, T + 1) long, cond
    (B, C)), for a renderer with its plan windows and their offset; ``micro`` is the rows of
    a global batch that one process trains on per micro-step; ``step`` counts optimizer
    steps, ``skipped`` the steps dropped for a non-finite loss or gradient (``bad_in_a_row``
    of them in a row now), ``best`` the lowest validation bits/sample so far; ``tokenizer``
    is a renderer's ``tokenizer.pt`` dict (model files and checkpoints carry it), else None.
    """

    cfg: ExperimentConfig
    exp_dir: Path
    acc: Accelerator
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    data_gen: torch.Generator
    ema: EMA | None
    sampler: SegmentSampler | PlanSegmentSampler
    valid_set: list[Batch]
    vocab: list[str]
    label_kind: str
    micro: int
    precision: str
    step: int = 0
    skipped: int = 0
    bad_in_a_row: int = 0
    best: float = math.inf
    tokenizer: dict[str, Any] | None = None


def lr_lambda(cfg: ExperimentConfig):
    """Linear warm-up, then cosine decay to ``lr_min_ratio``. step -> multiplier."""
    t = cfg.train

    def schedule(step: int) -> float:
        if step < t.warmup_steps:
            return (step + 1) / t.warmup_steps
        done = min(1.0, (step - t.warmup_steps) / max(1, t.max_steps - t.warmup_steps))
        return t.lr_min_ratio + (1 - t.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * done))

    return schedule


def init_state(cfg: ExperimentConfig, data_dir: Path, exp_dir: Path,
               source: object = "the config") -> TrainState:
    """Build the run for ``cfg`` on the dumps in ``data_dir``, resumed from the newest
    checkpoint in ``exp_dir`` if there is one. ``model.n_cond`` is set from the data's
    vocabulary (a config's value is replaced: the data decides it); with ``model.n_units``
    > 0 (a renderer) ``n_units`` and ``unit_hop`` are set from the unit tables beside the
    dumps, which must come from the dump's ``tokenizer.pt``. On the main process, writes
    ``exp_dir/config.yaml`` and appends a line to ``exp_dir/runs.jsonl``. ``source`` names
    the config in error messages."""
    tc = cfg.train
    train_store, valid_store = _open_stores(data_dir, cfg)
    vocab = train_store.vocab
    cfg.model = WaveNetConfig(**{**cfg.model.__dict__, "n_cond": len(vocab)})
    train_units = valid_units = tokenizer = None
    if cfg.level == "plan":  # a planner: its steps are the frames of the unit tables
        train_units, valid_units, tokenizer = _open_units(data_dir, "a planner (level: plan)")
        log.info("planner: %d units + the start symbol per %d-sample frame (%.1f frames/s), "
                 "from the unit tables; segments of %d frames = %.1f s", train_units.n_units,
                 train_units.hop, cfg.sample_rate / train_units.hop, tc.segment_length,
                 tc.segment_length * train_units.hop / cfg.sample_rate)
        cfg.model = WaveNetConfig(**{**cfg.model.__dict__,
                                     "n_classes": train_units.n_units + 1})
    elif cfg.model.n_units > 0:
        train_units, valid_units, tokenizer = _open_units(data_dir)
        log.info("local conditioning: %d units per %d-sample frame, from the unit tables "
                 "(model.n_units %d in %s)", train_units.n_units, train_units.hop,
                 cfg.model.n_units, source)
        cfg.model = WaveNetConfig(**{**cfg.model.__dict__, "n_units": train_units.n_units,
                                     "unit_hop": train_units.hop})
    # Before anything is written: a label weight the data lacks or unit tables that do not
    # fit the dumps stop the run here.
    sampler: SegmentSampler | PlanSegmentSampler
    valid_sampler: SegmentSampler | PlanSegmentSampler
    if cfg.level == "plan":
        assert train_units is not None and valid_units is not None
        sampler = PlanSegmentSampler(train_store, train_units, tc.segment_length,
                                     tc.label_weights)
        valid_sampler = PlanSegmentSampler(valid_store, valid_units, tc.segment_length)
        for name, smp in (("train", sampler), ("valid", valid_sampler)):
            if smp.skipped:
                log.warning("%d %s utterance(s) shorter than train.segment_length (%d frames) "
                            "are left out", len(smp.skipped), name, tc.segment_length)
    else:
        margin = cfg.model.unit_context
        sampler = SegmentSampler(train_store, tc.segment_length, cfg.model.n_classes,
                                 tc.label_weights, train_units, margin)
        valid_sampler = SegmentSampler(valid_store, tc.segment_length, cfg.model.n_classes,
                                       units=valid_units, margin=margin)

    # cpu=True without CUDA: several CPU processes (torchrun, accelerate launch) then form a
    # gloo process group instead of running as independent copies.
    precision, why = resolve_precision(tc.mixed_precision,
                                       "cuda" if torch.cuda.is_available() else "cpu")
    require_trackers(tc.log_with)
    # accelerate keeps one state per process and refuses a second Accelerator with another
    # precision: a second run in the same process (a notebook, the tests; "auto" resolves to
    # bf16 on CPUs with bf16 units) starts from a fresh one. The process group (PartialState)
    # of a multi-process launch is kept.
    AcceleratorState._reset_state()
    acc = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=precision,
                      log_with=tc.log_with or None, project_dir=str(exp_dir))
    micro = _micro_batch(tc.batch_size, acc.num_processes, tc.grad_accum_steps)
    torch.manual_seed(tc.seed)
    model = WaveNet(cfg.model, impl=tc.impl, recompute_gate=tc.recompute_gate,
                    checkpoint_activations=tc.checkpoint_activations)
    if tc.trainable == "conditioning":  # only the label's projections into the gates
        for name, param in model.named_parameters():
            param.requires_grad_(name.endswith(".cond.weight"))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                           lr=tc.learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    # The same stream on every process: each one takes its slice of the same global batch.
    data_gen = torch.Generator().manual_seed(tc.seed * 1000)
    ema = EMA(model, tc.ema_decay) if tc.ema_decay > 0 else None
    step, skipped, best = 0, 0, math.inf
    ckpt = load_latest(exp_dir)
    if ckpt is not None:
        if ckpt.get("level", "sample") != cfg.level:
            raise WavegenError(f"{exp_dir} holds checkpoints of level {ckpt.get('level', 'sample')}"
                               f", {source} trains level {cfg.level}: train into a new --exp-dir")
        _check_same_architecture(ckpt, cfg.model, exp_dir, source)
        _check_same_tokenizer(ckpt.get("tokenizer"), tokenizer,
                              f"the checkpoints in {exp_dir}", "train into a new --exp-dir")
        model.load_state_dict(ckpt["state_dict"])
        try:
            opt.load_state_dict(ckpt["optimizer"])
        except ValueError as err:  # another set of trained parameters
            raise WavegenError(
                f"the checkpoints in {exp_dir} were trained with another train.trainable than "
                f"{tc.trainable!r} ({err}): set it back, or start a new experiment folder "
                "with init_from set to one of its checkpoints") from err
        sched.load_state_dict(ckpt["scheduler"])
        data_gen.set_state(ckpt["data_rng"])
        if ema is not None:
            ema.load_state_dict(ckpt.get("ema_state_dict") or ckpt["state_dict"])
        step, skipped = int(ckpt["step"]), int(ckpt.get("skipped", 0))
        best = float(ckpt.get("best_valid_bits", math.inf))
        log.info("resuming %s from step %d", exp_dir, step)
    elif tc.init_from:
        _start_from(model, ema, Path(tc.init_from), cfg.model, vocab, train_store.label_kind,
                    tokenizer, cfg.level)
    model, opt = acc.prepare(model, opt)
    if ema is not None:
        ema.model.to(acc.device)

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
    valid_gen = torch.Generator().manual_seed(VALID_SEED)
    valid_set = [valid_sampler.batch(tc.batch_size, valid_gen) for _ in range(tc.valid_batches)]
    return TrainState(cfg=cfg, exp_dir=exp_dir, acc=acc, model=model, opt=opt, sched=sched,
                      data_gen=data_gen, ema=ema, sampler=sampler, valid_set=valid_set, vocab=vocab,
                      label_kind=train_store.label_kind, micro=micro, precision=precision,
                      step=step, skipped=skipped, best=best, tokenizer=tokenizer)


def _start_from(model: WaveNet, ema: EMA | None, path: Path, model_cfg: WaveNetConfig,
                vocab: list[str], label_kind: str, tokenizer: dict[str, Any] | None,
                level: str = "sample") -> None:
    """Load ``train.init_from`` into the new run's model (and its average).

    Raises:
        WavegenError: not a loadable model file, or another network, vocabulary, kind of
            label or (for a renderer) tokenizer than the run's.
    """
    net, info = load_model(path)
    where = f"train.init_from {path}"
    if info.level != level:
        raise WavegenError(f"{where} is a model of level {info.level}, this run trains level "
                           f"{level}: start from a model of the same level, or drop init_from")
    # A label-only model may start a renderer of the same network: the frame network that
    # adds the plan starts fresh (its projection small), the rest from the file.
    grow = info.config.n_units == 0 and model_cfg.n_units > 0
    saved = dataclasses.asdict(info.config)
    if grow:
        saved.update({k: getattr(model_cfg, k) for k in ("n_units", *LOCAL_ARCHITECTURE)})
    diff = _architecture_diff(saved, model_cfg, "here")
    if diff:
        raise WavegenError(f"{where} is another network ({'; '.join(diff)}): set model.* in "
                           "the config to that file's architecture, or drop init_from")
    if info.vocab != vocab or info.label_kind != label_kind:
        raise WavegenError(f"{where} was trained on the labels {', '.join(info.vocab)} "
                           f"({info.label_kind}); these dumps have {', '.join(vocab)} "
                           f"({label_kind}): start from a model of the same labels, or drop "
                           "init_from")
    _check_same_tokenizer(info.tokenizer, tokenizer, where, "drop init_from")
    state = net.state_dict()
    if grow:  # the new run's own (fresh) frame network completes the file's weights
        state = {**{k: v for k, v in model.state_dict().items() if k.startswith("frame_net.")},
                 **state}
    model.load_state_dict(state)
    if ema is not None:
        ema.load_state_dict(state)
    log.info("starting from the weights of %s%s", path,
             " (a label-only model: the frame network of the plan starts fresh)" if grow else "")


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


def _open_units(data_dir: Path, what: str = "a renderer (model.n_units > 0)"
                ) -> tuple[UnitStore, UnitStore, dict[str, Any]]:
    """The train and valid unit tables beside the dumps and the tokenizer that wrote them.

    Raises:
        WavegenError: a missing or damaged table or tokenizer file, or tables written by
            another tokenizer than ``DATA/tokenizer.pt`` (or by two different ones).
    """
    path = data_dir / TOKENIZER_FILE
    if not path.is_file():
        raise WavegenError(f"{what} needs the unit tables and tokenizer beside the dumps; "
                           f"{path} is missing: fit the tokenizer and run the units stage "
                           f"(wavegen units extract) on {data_dir} first")
    tokenizer = safe_torch_load(path, "tokenizer file")
    problem = tokenizer_problem(tokenizer)
    if problem:
        raise WavegenError(f"{path} is damaged: {problem.replace('its tokenizer entry', 'it')}"
                           "; fit the tokenizer again")
    train, valid = (UnitStore(data_dir / name / UNITS_DIR) for name in ("train", "valid"))
    for table in (train, valid):
        if table.tokenizer != tokenizer["identity"] or (
                (table.hop, table.n_units) != (train.hop, train.n_units)):
            raise WavegenError(f"{table.path} was written by another tokenizer than {path} "
                               f"({_name(table.tokenizer)} vs {_name(tokenizer['identity'])}); "
                               "extract the units again with it (wavegen units extract)")
    return train, valid, tokenizer


def _name(identity: dict[str, Any]) -> str:
    """A tokenizer identity in a few words, for error messages."""
    return " ".join(f"{k} {identity[k]}" for k in ("name", "n_units", "hop", "hash")
                    if k in identity) or "no identity"


def _check_same_tokenizer(saved: object, tokenizer: dict[str, Any] | None, where: str,
                          fix: str) -> None:
    """A renderer continues only with the plans of the tokenizer it was trained on."""
    if tokenizer is None or saved is None:
        return
    theirs = saved.get("identity") if isinstance(saved, dict) else None
    if theirs != tokenizer["identity"]:
        named = _name(theirs) if isinstance(theirs, dict) else "no identity"
        raise WavegenError(f"{where} were trained on the units of another tokenizer ({named}) "
                           f"than the dumps' ({_name(tokenizer['identity'])}): extract the "
                           f"units again with that tokenizer, or {fix}")


def _check_same_architecture(ckpt: dict, model_cfg: WaveNetConfig, exp_dir: Path,
                             config: object) -> None:
    """Refuse to resume checkpoints of another network (a config edited after the start)."""
    diff = _architecture_diff(ckpt.get("model_config", {}), model_cfg, f"in {config}")
    if diff:
        raise WavegenError(
            f"{exp_dir} holds checkpoints of a different network ({'; '.join(diff)}); resume "
            "with the config the experiment was started with, or train into a new --exp-dir")


def _architecture_diff(saved: dict, model_cfg: WaveNetConfig, here: str) -> list[str]:
    """``"<field> <saved value> there, <value> <here>"`` for each architecture field of a
    saved model config that differs from ``model_cfg``. A config saved before local
    conditioning existed has none (n_units 0)."""
    defaults = dataclasses.asdict(WaveNetConfig())
    saved = {**{k: defaults[k] for k in ("n_units", *LOCAL_ARCHITECTURE)}, **saved}
    keys = ARCHITECTURE + (LOCAL_ARCHITECTURE if saved["n_units"] or model_cfg.n_units else ())
    return [f"{k} {saved.get(k)} there, {getattr(model_cfg, k)} {here}"
            for k in keys if saved.get(k) != getattr(model_cfg, k)]


def _micro_batch(batch_size: int, processes: int, accum: int) -> int:
    """Rows per process and micro-step of a global batch."""
    if batch_size % (processes * accum):
        raise WavegenError(
            f"train.batch_size {batch_size} must divide by processes x grad_accum_steps = "
            f"{processes} x {accum}; change one of them")
    return batch_size // (processes * accum)
