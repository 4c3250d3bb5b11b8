#!/usr/bin/env python3
"""Do the toy genres stay recognizable from what a small WaveNet renders well?

A model trained on the toy corpus for an hour on a CPU renders the steady drone, the
percussion and nearly pure tones, but not rich melody timbres (docs/default_model.md). This
check trains the evaluation classifier on full real clips (as recipe stage 3 does) and scores
fresh clips with parts taken away:

- ``full``: the clips as they are (the classifier's ceiling);
- ``pure-melody``: every melody note a pure sine (timbre gone; register, scale, rhythm kept);
- ``no-melody``: drone and drums only.

Run it after changing ``wavegen/data/toy.py``; a corpus whose genres survive the last two
variants gives a model something it can render. Takes about 15 s on 2 cores.

    python local/cue_check.py [--rate 8000] [--seed 0] [--steps 600] [--clips 16]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

from wavegen.audio import resample
from wavegen.data.toy import GTZAN_GENRES, STYLES, TOY_SAMPLE_RATE, render_clip
from wavegen.eval.classifier import ClassifierConfig, predict, train_classifier

VARIANTS = {
    "full": {},
    "pure-melody": {"pure": True},
    "no-melody": {"parts": ("drums", "drone")},
}


def clips(seed: int, per_genre: int, seconds: float, rate: int, pure: bool = False,
          parts: tuple[str, ...] = ("melody", "drums", "drone")) -> tuple[list, np.ndarray]:
    out, labels = [], []
    for g, genre in enumerate(GTZAN_GENRES):
        style = STYLES[genre]
        if pure:
            style = dataclasses.replace(style, timbre="partials", partials=(1.0,))
        for k in range(per_genre):
            x = render_clip(genre, seconds, seed=seed * 1000 + g * 100 + k, parts=parts,
                            style=style)
            out.append(resample(x, TOY_SAMPLE_RATE, rate))
            labels.append(g)
    return out, np.array(labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=8000, help="the model's sample rate")
    ap.add_argument("--seed", type=int, default=0, help="classifier seed")
    ap.add_argument("--steps", type=int, default=600, help="classifier training steps")
    ap.add_argument("--clips", type=int, default=16,
                    help="training clips (4 s) per genre; 5 test clips (3 s) per genre")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    train, labels = clips(101, args.clips, 4.0, args.rate)
    clf = train_classifier(train, list(labels), len(GTZAN_GENRES),
                           ClassifierConfig(sample_rate=args.rate), steps=args.steps,
                           seed=args.seed)
    for name, kwargs in VARIANTS.items():
        test, truth = clips(202, 5, 3.0, args.rate, **kwargs)
        pred = predict(clf, test).argmax(1)
        wrong = [f"{GTZAN_GENRES[t]}->{GTZAN_GENRES[p]}" for t, p in zip(truth, pred, strict=True)
                 if t != p]
        print(f"{name:12s} {(pred == truth).mean():6.1%}  {' '.join(wrong)}")


if __name__ == "__main__":
    main()
