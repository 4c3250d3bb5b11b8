#!/usr/bin/env python
"""Does a clip stay what it started as? The first and the last seconds of long clips.

    local/long_range.py --classifier dump60/classifier/classifier.pt --real data60/test \\
        --seconds 30 OUT.json CLIPS_DIR

For every clip ``<genre>_<k>.wav`` of CLIPS_DIR (``wavegen synth --genre all --duration 30
--out-dir CLIPS_DIR``) and, as the ceiling of the measurement, every real clip of ``--real``
(its first ``--seconds``): the stage-3 classifier's verdict on the first and the last 5 s, and
the tempo (``wavegen.eval.attacks.rhythm_stats``) of the first and the last 10 s. Prints and
writes: accuracy on the first and the last 5 s, and the share of clips whose two tempos agree
within 5%.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from wavegen.audio import read_audio, resample
from wavegen.clipnames import parse_clip_name
from wavegen.eval.attacks import rhythm_stats
from wavegen.eval.classifier import load_classifier, predict
from wavegen.eval.evaluate import load_labeled


def measure(clips: list[np.ndarray], genres: list[str], rate: int, clf, vocab) -> dict:
    five, ten = 5 * rate, 10 * rate
    first = predict(clf, [c[:five] for c in clips]).argmax(1)
    last = predict(clf, [c[-five:] for c in clips]).argmax(1)
    want = np.array([vocab.index(g) for g in genres])
    agree = []
    for c in clips:
        a, b = rhythm_stats(c[:ten], rate)["tempo"], rhythm_stats(c[-ten:], rate)["tempo"]
        agree.append(a is not None and b is not None and abs(b / a - 1) <= 0.05)
    return {"n": len(clips), "accuracy_first_5s": float(np.mean(first == want)),
            "accuracy_last_5s": float(np.mean(last == want)),
            "tempo_first_last_within_5pct": float(np.mean(agree))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="JSON file to write")
    ap.add_argument("clips", type=Path, help="folder of <genre>_<k>.wav clips")
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--real", default=None, help="real clips (data dir or dump): the ceiling")
    ap.add_argument("--seconds", type=float, default=30.0, help="seconds of each real clip")
    a = ap.parse_args()
    clf, _ = load_classifier(a.classifier)
    rate, vocab = clf.cfg.sample_rate, list(clf.vocab)
    clips, genres = [], []
    for path in sorted(a.clips.glob("*.wav")):
        samples, sr = read_audio(path)
        clips.append(resample(samples, sr, rate))
        genres.append(str(parse_clip_name(path.name, vocab)))
    result = {"generated": measure(clips, genres, rate, clf, vocab)}
    if a.real:
        real, _, labels, _, _ = load_labeled(a.real, rate, a.seconds)
        result["real"] = measure(real, [lab[0] for lab in labels], rate, clf, vocab)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
