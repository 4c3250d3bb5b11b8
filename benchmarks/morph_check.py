"""Is a genre morph audible? ``--genre "A@0,B@T"`` clips judged by the evaluation classifier.

    python benchmarks/morph_check.py --classifier egs/toy/v1/dump60/classifier/classifier.pt \\
        --pairs 20 --seconds 8 --seed 1 --json out.json

For random ordered pairs of genres (A, B), generates one clip per pair with the conditioning
moving linearly from A (at 0 s) to B (at ``--seconds``), all pairs as one batch through the
engines' time-varying conditioning (the model's own sampling defaults, guidance included),
then scores 1 s windows with the classifier: the posterior of B in the first and the last
``--edge`` seconds. A morph is heard when the posterior of B rises; the script prints each
pair and how many rose, and writes them (``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavegen.audio import mu_law_decode, resample  # noqa: E402
from wavegen.engine import generate  # noqa: E402
from wavegen.engine.controls import control_every  # noqa: E402
from wavegen.eval.classifier import load_classifier, predict  # noqa: E402
from wavegen.models.conditioning import parse_trajectory, trajectory_value  # noqa: E402
from wavegen.models.io import default_model_path, load_model  # noqa: E402


def pairs_of(vocab: list[str], n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` distinct ordered pairs of different genres, drawn with ``seed``."""
    every = [(a, b) for a in vocab for b in vocab if a != b]
    rng = np.random.default_rng(seed)
    return [every[i] for i in rng.choice(len(every), size=min(n, len(every)), replace=False)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(default_model_path()))
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=8.0, help="clip length = morph length")
    ap.add_argument("--edge", type=float, default=2.0, help="seconds scored at each end")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    if a.pairs < 1 or not 0 < 2 * a.edge <= a.seconds:
        ap.error("need --pairs >= 1 and 0 < 2 * --edge <= --seconds")
    net, info = load_model(a.model)
    clf, _ = load_classifier(a.classifier)
    vocab, rate = info.vocab, info.sample_rate
    pairs = pairs_of(vocab, a.pairs, a.seed)
    tracks = [parse_trajectory(f"{x}@0,{y}@{a.seconds}",
                               lambda s: torch.eye(len(vocab))[vocab.index(s)]) for x, y in pairs]
    cond_at = lambda t: torch.stack([trajectory_value(p, t / rate) for p in tracks])  # noqa: E731
    d = info.synth_defaults
    codes = generate(net, cond_at(0), int(a.seconds * rate), seed=a.seed, cond_at=cond_at,
                     control_every=control_every(rate), temperature=d.get("temperature", 1.0),
                     top_p=d.get("top_p", 1.0), guidance=d.get("guidance", 1.0))
    audio = mu_law_decode(codes, info.config.n_classes).numpy()  # (P, T)
    n_edge = int(a.edge * rate)
    rows, rose = [], 0
    for (x, y), clip in zip(pairs, audio, strict=True):
        head, tail = (resample(part, rate, clf.cfg.sample_rate)
                      for part in (clip[:n_edge], clip[-n_edge:]))
        p_head, p_tail = predict(clf, [head, tail])[:, clf.vocab.index(y)]
        rose += int(p_tail > p_head)
        rows.append({"from": x, "to": y, "p_to_first": float(p_head), "p_to_last": float(p_tail)})
        print(f"{x:>9s} -> {y:<9s} P({y}) {p_head:.2f} -> {p_tail:.2f}")
    print(f"posterior of the target genre rose in {rose} of {len(pairs)} morphs "
          f"({a.seconds:g} s, first/last {a.edge:g} s, seed {a.seed})")
    if a.json:
        args = {k: str(v) for k, v in vars(a).items()}
        if a.model == str(default_model_path()):
            args["model"] = "the packaged default model"  # not this machine's install path
        a.json.write_text(json.dumps({"args": args,
                                      "rose": rose, "pairs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
