#!/usr/bin/env python
"""Does a genre survive generation when the model starts inside it? Primed continuations.

    local/primed_genres.py --ref dump60/train --count 5 --seed 1 OUT
    wavegen eval --gen OUT/synth --ref data60/test \\
        --classifier dump60/classifier/classifier.pt --out OUT/eval

For each genre, ``--count`` real clips of ``--ref`` each prime one generation: ``--prime``
seconds from ``--start`` are teacher-forced through the engine (``wavegen synth --prime``, all
rows as one batch), then ``--duration`` seconds are generated under that genre's conditioning
with the model's sampling defaults. Only the continuation is written
(``OUT/synth/<genre>_<k>.wav``), so the classifier judges what the model made of a real start.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from wavegen.audio import mu_law_decode, mu_law_encode
from wavegen.clipnames import clip_filename
from wavegen.engine import generate
from wavegen.eval.evaluate import load_labeled
from wavegen.models.io import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--ref", required=True, help="real clips: a dump or a Kaldi data dir")
    ap.add_argument("--count", type=int, default=5, help="primed clips per genre")
    ap.add_argument("--start", type=float, default=10.0)
    ap.add_argument("--prime", type=float, default=2.0, help="seconds of real audio")
    ap.add_argument("--duration", type=float, default=4.5, help="seconds generated")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", default=None, help="default: the packaged model")
    a = ap.parse_args()
    net, info = load_model(a.model)
    rate, V = info.sample_rate, len(info.vocab)
    clips, _, labels, _, _ = load_labeled(a.ref, rate)
    specs, primers = [], []
    for genre in info.vocab:
        mine = [c for c, lab in zip(clips, labels, strict=True) if lab[0] == genre][:a.count]
        for k, clip in enumerate(mine):
            s = int(a.start * rate)
            x = np.ascontiguousarray(clip[s:s + int(a.prime * rate)], np.float32)
            primers.append(mu_law_encode(torch.from_numpy(x), info.config.n_classes).long())
            specs.append((genre, k))
    cond = torch.stack([torch.eye(V)[info.vocab.index(g)] for g, _ in specs])
    d = info.synth_defaults
    codes = generate(net, cond, int(round(a.duration * rate)), seed=a.seed,
                     primer=torch.stack(primers), temperature=d.get("temperature", 1.0),
                     top_p=d.get("top_p", 1.0), guidance=d.get("guidance", 1.0))
    audio = mu_law_decode(codes, info.config.n_classes).numpy()
    (a.out / "synth").mkdir(parents=True, exist_ok=True)
    for (genre, k), row in zip(specs, audio, strict=True):
        sf.write(a.out / "synth" / clip_filename(genre, k), row, rate, subtype="PCM_16")


if __name__ == "__main__":
    main()
