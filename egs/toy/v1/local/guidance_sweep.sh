#!/usr/bin/env bash
# Choose a model's classifier-free guidance scale on a synthesis seed the measurement does not
# use (docs/default_model.md measures seeds 1-3; this sweep uses seed 7): 4 clips per genre at
# each scale, scored by the stage-3 classifier (conditional accuracy and the generated clips'
# median RMS after the first second).
#
# Usage: local/guidance_sweep.sh [--scales "1 3 5 8 12 16"] [--seed 7] [--count 4]
#                                [--duration 4.5] [--dump dump] <model.pt> <out-dir>
# Writes <out-dir>/g<scale>/ clips and prints one line per scale.
set -euo pipefail
cd "$(dirname "$0")/.."
. ./path.sh
scales="1 3 5 8 12 16"
seed=7
count=4
duration=4.5
dump=dump
help_message="Usage: $0 [--scales \"1 3 5 8 12 16\"] [--seed 7] [--count 4] [--duration 4.5] [--dump D] <model.pt> <out-dir>"
. utils/parse_options.sh
[ $# -eq 2 ] || { echo "$help_message" >&2; exit 1; }
model=$1 out=$2
for g in $scales; do
  mkdir -p "$out/g$g"
  wavegen synth --model "$model" --genre all --count "$count" --duration "$duration" \
    --seed "$seed" --guidance "$g" --out-dir "$out/g$g" >/dev/null 2>&1
  python - "$out/g$g" "$dump/classifier/classifier.pt" "$g" <<'PY'
import sys
from pathlib import Path

import numpy as np

from wavegen.audio import read_audio, resample
from wavegen.eval.classifier import load_classifier, predict

clip_dir, classifier, scale = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
clf, _ = load_classifier(classifier)
files = sorted(clip_dir.glob("*.wav"))
clips, rms = [], []
for f in files:
    x, rate = read_audio(f)
    clips.append(resample(x, rate, clf.cfg.sample_rate))
    rms.append(float(np.sqrt(np.mean(x[rate:] ** 2))))
pred = predict(clf, clips).argmax(1)
hits = [clf.vocab[p] == f.name.rsplit("_", 1)[0] for p, f in zip(pred, files, strict=True)]
print(f"guidance {scale}: conditional accuracy {np.mean(hits):.0%} of {len(files)}, "
      f"median RMS after 1 s {np.median(rms):.3f}, silent {sum(r < 1e-3 for r in rms)}")
PY
done
