#!/usr/bin/env bash
# Measure a model as docs/default_model.md does: 10 clips per genre for each of 3 synthesis
# seeds, scored by `wavegen eval` against the real test clips with the stage-3 classifier,
# with the copy check against the training clips.
#
# Usage: local/measure.sh [--duration 4.5] [--count 10] [--seeds "1 2 3"] [--data data]
#                         [--dump dump] [--guidance G] <model.pt> <out-dir>
# --guidance overrides the model file's default classifier-free guidance scale.
# Writes <out-dir>/seed<S>/{synth,eval/eval.json} and prints one summary line per seed.
set -euo pipefail
cd "$(dirname "$0")/.."
. ./path.sh
duration=4.5     # at least the receptive field (1.04 s for the shipped model) plus 3 s
count=10
seeds="1 2 3"
data=data
dump=dump
guidance=   # empty: the model file's default
help_message="Usage: $0 [--duration S] [--count N] [--seeds \"1 2 3\"] [--data D] [--dump D] [--guidance G] <model.pt> <out-dir>"
. utils/parse_options.sh
[ $# -eq 2 ] || { echo "$help_message" >&2; exit 1; }
model=$1 out=$2
for seed in $seeds; do
  mkdir -p "$out/seed$seed/synth"
  wavegen synth --model "$model" --genre all --count "$count" --duration "$duration" \
    --seed "$seed" --out-dir "$out/seed$seed/synth" ${guidance:+--guidance "$guidance"} >/dev/null
  echo "seed $seed: $(wavegen eval --gen "$out/seed$seed/synth" --ref "$data/test" \
    --train "$data/train" --classifier "$dump/classifier/classifier.pt" \
    --out "$out/seed$seed/eval")"
done
