#!/usr/bin/env python
"""Guidance against the other genres instead of the null label (an experiment).

    local/contrast_guidance.py --against others --guidance 8 --seed 7 OUT
    wavegen eval --gen OUT/synth --ref data60/test \\
        --classifier dump60/classifier/classifier.pt --out OUT/eval

Classifier-free guidance samples from ``lerp(uncond, cond, s)`` logits with the null label as
``uncond``. Here the second half of each guided pair is conditioned on ``--against``: ``null``
(the zero vector: exactly what ``wavegen synth`` does), or ``others`` (the even mix of every
other genre), which pushes a clip away from what the other genres share with it. Writes
``--count`` clips per genre of ``--duration`` seconds to ``OUT/synth/<genre>_<k>.wav`` with
the cpu engine and the uniforms ``synth --seed`` would draw.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from wavegen.audio import mu_law_decode, silence_code
from wavegen.clipnames import clip_filename
from wavegen.engine.cpu import CpuEngine
from wavegen.models.io import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--against", choices=["null", "others"], default="others")
    ap.add_argument("--guidance", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--duration", type=float, default=4.5)
    ap.add_argument("--model", default=None, help="default: the packaged model")
    a = ap.parse_args()
    net, info = load_model(a.model)
    w = net.export_weights()
    V = len(info.vocab)
    specs = [(g, k) for g in info.vocab for k in range(a.count)]
    cond = torch.stack([torch.eye(V)[info.vocab.index(g)] for g, _ in specs])  # (B, V)
    against = torch.zeros_like(cond) if a.against == "null" else (1 - cond) / (V - 1)
    t, p = info.synth_defaults.get("temperature", 1.0), info.synth_defaults.get("top_p", 1.0)
    B, n = len(specs), int(round(a.duration * info.sample_rate))
    eng = CpuEngine(w, torch.cat([cond, against]))
    rng = np.random.default_rng(a.seed)  # time-major draws, as engine.stream makes them
    prev = torch.full((B,), silence_code(w.n_classes), dtype=torch.long)
    parts = []
    with torch.inference_mode():
        for start in range(0, n, 4000):
            m = min(4000, n - start)
            u = torch.from_numpy(rng.random((m, B), dtype=np.float32).T.copy())
            parts.append(eng.run(prev, u, t, p, a.guidance))
            prev = parts[-1][:, -1]
    audio = mu_law_decode(torch.cat(parts, 1), w.n_classes).numpy()
    (a.out / "synth").mkdir(parents=True, exist_ok=True)
    for (genre, k), row in zip(specs, audio, strict=True):
        sf.write(a.out / "synth" / clip_filename(genre, k), row, info.sample_rate,
                 subtype="PCM_16")


if __name__ == "__main__":
    main()
