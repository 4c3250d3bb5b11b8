"""Where the evaluation classifier's training step spends its time, and what the feature fix
saves.

    python benchmarks/classifier_speed.py --rate 8000 --steps 30 --rounds 3

Times training steps (crops, augmentation, log-mel, network forward and backward, Adam) of
``wavegen.eval.classifier`` with the shipped features (``GenreClassifier.log_mel``: power as
re^2 + im^2) against torchaudio's ``MelSpectrogram`` (``|z| ** 2``, what the classifier used
before), alternating the two in rounds so machine load hits both alike; then profiles the
shipped step by operator. Prints ms per step (median of rounds), the ratio, the top operators
and the machine facts; ``--json`` writes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavegen.eval.classifier import ClassifierConfig, GenreClassifier, _crops, augment  # noqa: E402
from wavegen.machine import describe, machine_facts  # noqa: E402

VARIANTS = ("log_mel", "melspectrogram")


def make_step(variant: str, rate: int, batch: int, seed: int = 0):
    """A training step of the classifier on random clips with the given feature path."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = ClassifierConfig(sample_rate=rate)
    model = GenreClassifier(cfg, n_classes=10)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    clips = [0.1 * rng.standard_normal(rate * 5).astype(np.float32) for _ in range(16)]
    length = int(cfg.crop_seconds * rate)
    features = (model.log_mel if variant == "log_mel"
                else lambda w: torch.log(model.mel(w) + 1e-5))

    def step() -> None:
        idx = rng.integers(0, len(clips), size=batch)
        wav = augment(_crops([clips[i] for i in idx], length, rng), rng)
        h = model.net(features(wav))
        logits = model.head(F.relu(model.embed(torch.cat([h.mean(-1), h.amax(-1)], 1))))
        loss = F.cross_entropy(logits, torch.from_numpy(idx % 10))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def time_steps(step, n: int) -> float:
    """Mean ms per step over ``n`` steps (after 3 warm-up steps)."""
    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(n):
        step()
    return 1000 * (time.perf_counter() - start) / n


def profile_ops(step, n: int = 10, top: int = 8) -> list[dict]:
    """The step's operators by self CPU time: name, ms per step, share of the step."""
    from torch.profiler import profile

    with profile() as prof:
        for _ in range(n):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows)
    return [{"op": e.key, "ms_per_step": e.self_cpu_time_total / 1000 / n,
             "share": e.self_cpu_time_total / total} for e in rows[:top]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=8000, help="sample rate (8000: the demo)")
    ap.add_argument("--batch", type=int, default=32, help="clips per step (the trainer's)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternated rounds")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--json", type=Path, help="write the results here")
    a = ap.parse_args(argv)
    for name in ("rate", "batch", "steps", "rounds", "threads"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(a, name)}")
    torch.set_num_threads(a.threads)
    steps = {v: make_step(v, a.rate, a.batch) for v in VARIANTS}
    ms: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(a.rounds):
        for v in VARIANTS:
            ms[v].append(time_steps(steps[v], a.steps))
    med = {v: statistics.median(ms[v]) for v in VARIANTS}
    ops = profile_ops(steps["log_mel"])
    facts = machine_facts(threads=a.threads, peaks=False)
    print(describe(facts))
    print(f"classifier training step, batch {a.batch} x 1 s at {a.rate} Hz, "
          f"{a.rounds} rounds of {a.steps} steps")
    for v in VARIANTS:
        print(f"  {v:15s} {med[v]:7.1f} ms/step  (rounds: "
              + ", ".join(f"{x:.1f}" for x in ms[v]) + ")")
    print(f"  speed-up {med['melspectrogram'] / med['log_mel']:.2f}x")
    print("operators of the shipped step (self CPU time):")
    for row in ops:
        print(f"  {row['op']:38s} {row['ms_per_step']:6.2f} ms  {100 * row['share']:4.1f}%")
    if a.json:
        a.json.write_text(json.dumps({"machine": facts, "args": {k: str(v) for k, v in
                                                                 vars(a).items()},
                                      "ms_per_step": ms, "median": med, "ops": ops},
                                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
