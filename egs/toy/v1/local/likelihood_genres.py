#!/usr/bin/env python
"""Does the model know a genre when it hears one? Its likelihood as a genre classifier.

    local/likelihood_genres.py --ref dump60/test [--model M] [--start 10] [--seconds 6]

For every real clip of ``--ref`` (a dump or a Kaldi data dir), teacher-forces an excerpt
(``--seconds`` from ``--start``) through the model under each genre's one-hot conditioning and
the null label, and scores the positions past the receptive field (the first receptive field
of the excerpt only fills the context). The genre of least NLL is the model's guess. Prints,
per true genre, how often the guess is right, the mean NLL under the true genre, under the
null label and under the best wrong genre (bits/sample), and the wrong genre it picks most.
A genre the model names from real audio but does not render is a sampling problem; a genre it
cannot name is one the conditioning does not carry.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F

from wavegen.audio import mu_law_encode
from wavegen.eval.evaluate import load_labeled
from wavegen.models.io import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", required=True)
    ap.add_argument("--model", default=None, help="default: the packaged model")
    ap.add_argument("--start", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    net, info = load_model(a.model)
    net.eval()
    rate, V = info.sample_rate, len(info.vocab)
    clips, utts, labels, _, _ = load_labeled(a.ref, rate)
    rf = info.config.receptive_field
    conds = torch.cat([torch.eye(V), torch.zeros(1, V)])  # each genre, then the null label
    rows = []
    with torch.inference_mode():
        for clip, label in zip(clips, labels, strict=True):
            s = int(a.start * rate)
            x = clip[s:s + int(a.seconds * rate) + 1]
            codes = mu_law_encode(torch.from_numpy(np.ascontiguousarray(x, np.float32)),
                                  info.config.n_classes).long()[None].expand(V + 1, -1)
            logits = net(codes[:, :-1], conds)  # (V + 1, A, T)
            nll = F.cross_entropy(logits[:, :, rf:], codes[:, 1 + rf:], reduction="none")
            bits = (nll.mean(1) / np.log(2)).tolist()  # (V + 1,)
            rows.append((label[0], bits))
    summary = {}
    for genre in info.vocab:
        mine = [b for g, b in rows if g == genre]
        if not mine:
            continue
        t = info.vocab.index(genre)
        guesses = [int(np.argmin(b[:V])) for b in mine]
        wrong = [min(v for i, v in enumerate(b[:V]) if i != t) for b in mine]
        top_wrong = Counter(info.vocab[g] for g in guesses if g != t).most_common(1)
        summary[genre] = {"clips": len(mine), "named": sum(g == t for g in guesses),
                          "nll_true": float(np.mean([b[t] for b in mine])),
                          "nll_null": float(np.mean([b[V] for b in mine])),
                          "nll_best_wrong": float(np.mean(wrong)),
                          "most_picked_wrong": top_wrong[0][0] if top_wrong else None}
        r = summary[genre]
        print(f"{genre:10s} named {r['named']}/{r['clips']}  NLL true {r['nll_true']:.3f}  "
              f"null {r['nll_null']:.3f}  best wrong {r['nll_best_wrong']:.3f}  "
              f"(picks {r['most_picked_wrong']})")
    named = sum(r["named"] for r in summary.values())
    total = sum(r["clips"] for r in summary.values())
    print(f"named {named}/{total} real clips by likelihood")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"ref": a.ref, "start": a.start, "seconds": a.seconds,
                       "per_genre": summary, "named": named, "clips": total}, fh, indent=1)


if __name__ == "__main__":
    main()
