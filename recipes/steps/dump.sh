#!/usr/bin/env bash
# Resample the data dirs of a recipe into memory-mapped dumps, one job per set.
#
# Usage: steps/dump.sh [--cmd utils/run.sh] [--sample-rate 16000] <data-root> <dump-root> <set>...
#   e.g. steps/dump.sh data dump train valid test   -> dump/{train,valid,test}
set -euo pipefail
cmd=utils/run.sh
sample_rate=16000
help_message="Usage: $0 [--cmd CMD] [--sample-rate HZ] <data-root> <dump-root> <set>..."
. utils/parse_options.sh
[ $# -ge 3 ] || { echo "$help_message" >&2; exit 1; }
data=$1 dump=$2
shift 2
sets=("$@")
mkdir -p "$dump/log"
printf '%s\n' "${sets[@]}" > "$dump/log/sets"
# Job i handles the i-th set name.
$cmd JOB=1:${#sets[@]} "$dump/log/dump.JOB.log" \
  "s=\$(sed -n JOBp $dump/log/sets) && wavegen dump $data/\$s $dump/\$s --sample-rate $sample_rate"
