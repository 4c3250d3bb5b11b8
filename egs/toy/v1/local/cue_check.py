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

import torch

from wavegen.data.toy import GTZAN_GENRES, STYLES, labelled_clips
from wavegen.eval.classifier import ClassifierConfig, predict, train_classifier

PURE = {genre: dataclasses.replace(style, timbre="partials", partials=(1.0,))
        for genre, style in STYLES.items()}
VARIANTS = {
    "full": {},
    "pure-melody": {"styles": PURE},
    "no-melody": {"parts": ("drums", "drone")},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=8000, help="the model's sample rate")
    ap.add_argument("--seed", type=int, default=0, help="classifier seed")
    ap.add_argument("--steps", type=int, default=600, help="classifier training steps")
    ap.add_argument("--clips", type=int, default=16,
                    help="training clips (4 s) per genre; 5 test clips (3 s) per genre")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    train, labels = labelled_clips(101, args.clips, 4.0, args.rate)
    clf = train_classifier(train, list(labels), len(GTZAN_GENRES),
                           ClassifierConfig(sample_rate=args.rate), steps=args.steps,
                           seed=args.seed)
    for name, kwargs in VARIANTS.items():
        test, truth = labelled_clips(202, 5, 3.0, args.rate, **kwargs)
        pred = predict(clf, test).argmax(1)
        wrong = [f"{GTZAN_GENRES[t]}->{GTZAN_GENRES[p]}" for t, p in zip(truth, pred, strict=True)
                 if t != p]
        print(f"{name:12s} {(pred == truth).mean():6.1%}  {' '.join(wrong)}")


if __name__ == "__main__":
    main()
