#!/usr/bin/env python3
"""Which cues name a genre? Score clips with parts taken away.

The evaluation classifier is trained on full real clips (as recipe stage 3 does), or read from
``--classifier`` (the stage-3 file), then scores fresh clips, not in the corpus, with parts of
each clip removed. A classifier that still names the genre without the drums and without the
sustained parts does not rest on one steady tone.

Rendered corpus (``--corpus rendered``, the default; wavegen/data/render.py):
- ``full``: the clips as they are (the classifier's ceiling);
- ``no-drums``: bass, chords and lead only;
- ``no-sustained``: drums and bass only (the chords/pads and the lead, the parts that ring, gone);
- ``drums-only``: the kit alone.

Procedural toy corpus (``--corpus procedural``; wavegen/data/toy.py):
- ``full``; ``pure-melody``: every melody note a pure sine; ``no-melody``: drone and drums only.

    python local/cue_check.py [--corpus rendered] [--classifier dump/classifier/classifier.pt]
                              [--rate 8000] [--seed 0] [--steps 600] [--clips 16] [--test 5]
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from wavegen.data.toy import GTZAN_GENRES, STYLES, labelled_clips
from wavegen.eval.classifier import (
    ClassifierConfig,
    load_classifier,
    predict,
    train_classifier,
)

PURE = {genre: dataclasses.replace(style, timbre="partials", partials=(1.0,))
        for genre, style in STYLES.items()}
PROCEDURAL = {
    "full": {},
    "pure-melody": {"styles": PURE},
    "no-melody": {"parts": ("drums", "drone")},
}
RENDERED = {
    "full": {},
    "no-drums": {"parts": ("bass", "comp", "lead")},
    "no-sustained": {"parts": ("drums", "bass")},
    "drums-only": {"parts": ("drums",)},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", choices=["rendered", "procedural"], default="rendered")
    ap.add_argument("--classifier", default=None,
                    help="a trained classifier file (default: train one here)")
    ap.add_argument("--rate", type=int, default=8000, help="the model's sample rate")
    ap.add_argument("--seed", type=int, default=0, help="classifier seed")
    ap.add_argument("--steps", type=int, default=600, help="classifier training steps")
    ap.add_argument("--clips", type=int, default=16, help="training clips (4 s) per genre")
    ap.add_argument("--test", type=int, default=5, help="test clips (4 s) per genre")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    if args.corpus == "rendered":
        from wavegen.data.render import labelled_rendered_clips as clips_of
        variants = RENDERED
    else:
        clips_of, variants = labelled_clips, PROCEDURAL
    if args.classifier:
        clf, _ = load_classifier(args.classifier)
        rate = clf.cfg.sample_rate
    else:
        rate = args.rate
        train, labels = clips_of(101, args.clips, 4.0, rate)
        clf = train_classifier(train, list(labels), len(GTZAN_GENRES),
                               ClassifierConfig(sample_rate=rate), steps=args.steps,
                               seed=args.seed)
    for name, kwargs in variants.items():
        test, truth = clips_of(202, args.test, 4.0, rate, **kwargs)
        pred = predict(clf, test).argmax(1)
        wrong = [f"{GTZAN_GENRES[t]}->{GTZAN_GENRES[p]}" for t, p in zip(truth, pred, strict=True)
                 if t != p]
        print(f"{name:12s} {(pred == truth).mean():6.1%}  {' '.join(wrong)}", flush=True)


if __name__ == "__main__":
    main()
