#!/usr/bin/env bash
# Train the evaluation classifier on <dump>/train (at the dump's rate) and test it on
# <dump>/test; writes <out-dir>/classifier.pt and prints its real-clip test accuracy.
#
# Usage: steps/train_classifier.sh [--cmd utils/run.sh] [--steps N] [--seed S] <dump> <out-dir>
set -euo pipefail
cmd=utils/run.sh
steps=600
seed=0
help_message="Usage: $0 [--cmd CMD] [--steps N] [--seed S] <dump> <out-dir>"
. utils/parse_options.sh
[ $# -eq 2 ] || { echo "$help_message" >&2; exit 1; }
dump=$1 out=$2
mkdir -p "$out/log"
$cmd "$out/log/train.log" wavegen classifier train --dump-dir "$dump" \
  --out "$out/classifier.pt" --steps "$steps" --seed "$seed"
grep -v '^#' "$out/log/train.log" | tail -n 1
