#!/usr/bin/env bash
# Train a WaveNet; re-running resumes from the newest checkpoint in <exp-dir>.
#
# Usage: steps/train.sh [--cmd utils/run.sh] [--max-steps N] <config.yaml> <dump-root> <exp-dir>
set -euo pipefail
cmd=utils/run.sh
max_steps=
help_message="Usage: $0 [--cmd CMD] [--max-steps N] <config.yaml> <dump-root> <exp-dir>"
. utils/parse_options.sh
[ $# -eq 3 ] || { echo "$help_message" >&2; exit 1; }
config=$1 dump=$2 exp=$3
mkdir -p "$exp/log"
extra=()
[ -n "$max_steps" ] && extra=(--max-steps "$max_steps")
# The trainer's progress bar goes to the log; follow it with: tail -f $exp/log/train.log
$cmd "$exp/log/train.log" wavegen train --config "$config" --data-dir "$dump" \
  --exp-dir "$exp" "${extra[@]}"
grep -h "valid_bits_per_sample" "$exp/log/train.log" | tail -n 1
