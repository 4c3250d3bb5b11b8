#!/usr/bin/env python
"""The figures of the two-level bars from ``wavegen eval`` outputs, one line per eval.json.

    local/bars.py exp/measure/seed1/eval/eval.json [...]

Conditional accuracy over the genres and the genres at >= 70%; per genre, the median generated
tempo against the real median (genres within 10%) and the onset rate against the real one
(genres within 0.67-1.5x); the Frechet distance over the real-vs-real one; clips flagged as
copies of training audio.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def bars(ev: dict) -> dict:
    per_genre = ev["generated"]["per_genre_accuracy"]
    attacks = ev["attacks"]["per_genre"]
    tempo, onsets = {}, {}
    for genre, a in attacks.items():
        real, gen = a["real"].get("tempo_median"), a["generated"].get("tempo_median")
        tempo[genre] = None if not (real and gen) else round(gen / real, 3)
        onsets[genre] = a["onset_rate"]["ratio"]
    fd = ev["frechet"]
    return {
        "accuracy": ev["generated"]["conditional_accuracy"],
        "genres_at_70pct": sum(v >= 0.7 for v in per_genre.values()),
        "weakest": min(per_genre.items(), key=lambda kv: kv[1]),
        "tempo_within_10pct": sum(r is not None and abs(r - 1) <= 0.1 for r in tempo.values()),
        "onset_rate_in_0.67_1.5": sum(r is not None and 0.67 <= r <= 1.5
                                      for r in onsets.values()),
        "fd_ratio": round(fd["generated_vs_real"]["fd"] / fd["real_vs_real"]["fd"], 2),
        "copies_flagged": ev.get("copies", {}).get("n_flagged"),
        "per_genre_accuracy": per_genre, "tempo_ratio": tempo,
        "onset_rate_ratio": {g: round(r, 3) if r is not None else None
                             for g, r in onsets.items()},
    }


def main() -> None:
    for path in sys.argv[1:]:
        print(path, json.dumps(bars(json.loads(Path(path).read_text()))))


if __name__ == "__main__":
    main()
