#!/usr/bin/env bash
# Synthesize clips for every genre of a model into <out-dir>, in one batched run.
#
# Usage: steps/synth.sh [--cmd utils/run.sh] [--duration S] [--count N] [--seed S]
#                       [--temperature T] <model.pt> <out-dir>
set -euo pipefail
cmd=utils/run.sh
duration=2.0
count=1
seed=0
temperature=1.0
help_message="Usage: $0 [options] <model.pt> <out-dir>"
. utils/parse_options.sh
[ $# -eq 2 ] || { echo "$help_message" >&2; exit 1; }
model=$1 out=$2
mkdir -p "$out/log"
$cmd "$out/log/synth.log" wavegen synth --model "$model" --genre all --count "$count" \
  --duration "$duration" --seed "$seed" --temperature "$temperature" --out-dir "$out"
