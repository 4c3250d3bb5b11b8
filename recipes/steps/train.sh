#!/usr/bin/env bash
# Train a WaveNet; re-running resumes from the newest checkpoint in <exp-dir>.
#
# Usage: steps/train.sh [--cmd utils/run.sh] [--max-steps N] [--num-processes N]
#                       <config.yaml> <dump-root> <exp-dir>
# --num-processes N > 1 starts N training processes with accelerate launch inside the job (one
# per GPU; gloo processes on a CPU-only machine): on Slurm give the job as many GPUs, e.g.
# train_cmd="utils/slurm.sh --gpu 4" in cmd.sh with --num-processes 4.
set -euo pipefail
cmd=utils/run.sh
max_steps=
num_processes=1
help_message="Usage: $0 [--cmd CMD] [--max-steps N] [--num-processes N] <config.yaml> <dump-root> <exp-dir>"
. utils/parse_options.sh
[ $# -eq 3 ] || { echo "$help_message" >&2; exit 1; }
if ! [[ "$num_processes" =~ ^[1-9][0-9]*$ ]]; then
  echo "$0: --num-processes must be a whole number >= 1, got '$num_processes'" >&2
  exit 1
fi
config=$1 dump=$2 exp=$3
mkdir -p "$exp/log"
extra=()
[ -n "$max_steps" ] && extra=(--max-steps "$max_steps")
# The trainer's progress bar goes to the log; follow it with: tail -f $exp/log/train.log
launcher=(wavegen)
if [ "$num_processes" -gt 1 ]; then
  launcher=(accelerate launch --multi_gpu --num_processes "$num_processes" --num_machines 1
            --dynamo_backend no -m wavegen)
fi
$cmd "$exp/log/train.log" "${launcher[@]}" train --config "$config" --data-dir "$dump" \
  --exp-dir "$exp" "${extra[@]}"
grep -h "valid_bits_per_sample" "$exp/log/train.log" | tail -n 1
