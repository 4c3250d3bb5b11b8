#!/usr/bin/env bash
# Score generated <label>_<k>.wav clips against real ones: writes <out-dir>/eval.json
# (conditional accuracy, confusion, inception score, Frechet distances, and the test NLL of
# --model when given) and prints its summary.
#
# Usage: steps/eval.sh [--cmd utils/run.sh] [--model model.pt] [--train data/train]
#                      <gen-dir> <ref-data-dir> <classifier.pt> <out-dir>
#   --train   the training data: also report each clip's nearest training clip and flag copies
set -euo pipefail
cmd=utils/run.sh
model=
train=
help_message="Usage: $0 [--cmd CMD] [--model M] [--train D] <gen-dir> <ref-data-dir> <classifier> <out-dir>"
. utils/parse_options.sh
[ $# -eq 4 ] || { echo "$help_message" >&2; exit 1; }
gen=$1 ref=$2 classifier=$3 out=$4
mkdir -p "$out/log"
extra=()
[ -z "$model" ] || extra+=(--model "$model")
[ -z "$train" ] || extra+=(--train "$train")
$cmd "$out/log/eval.log" wavegen eval --gen "$gen" --ref "$ref" --classifier "$classifier" \
  --out "$out" "${extra[@]}"
grep -v '^#' "$out/log/eval.log" | tail -n 1
