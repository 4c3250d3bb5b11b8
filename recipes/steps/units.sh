#!/usr/bin/env bash
# Fit the unit tokenizer on <dump>/train and write the unit tables of each set beside its dump:
# <dump>/tokenizer.pt and <dump>/<set>/units/ (one job per set, at most --nj at a time).
# Logs: <dump>/log/units_fit.log, <dump>/log/units.<job>.log.
#
# Usage: steps/units.sh [--cmd utils/run.sh] [--nj N] [--n-units 256] [--hop 160] [--seed 0]
#                       [--features onset,chroma,mel] <dump-root> <set>...
#   e.g. steps/units.sh --hop 160 dump train valid test
set -euo pipefail
cmd=utils/run.sh
nj=
n_units=256
hop=160
seed=0
features=onset,chroma,mel
help_message="Usage: $0 [--cmd CMD] [--nj N] [--n-units K] [--hop H] [--seed S] [--features F]
       <dump-root> <set>..."
. utils/parse_options.sh
[ $# -ge 2 ] || { echo "$help_message" >&2; exit 1; }
dump=$1
shift
sets=("$@")
mkdir -p "$dump/log"
$cmd "$dump/log/units_fit.log" wavegen units fit "$dump/train" --out "$dump/tokenizer.pt" \
  --n-units "$n_units" --hop "$hop" --seed "$seed" --features "$features"
jobs=$dump/log/units.jobs  # line k: the dump of job k
printf '%s\n' "${sets[@]/#/$dump/}" >"$jobs"
# Each extraction job runs on one core; parallelism comes from the number of jobs.
$cmd --max-jobs-run "${nj:-${#sets[@]}}" JOB=1:"${#sets[@]}" "$dump/log/units.JOB.log" \
  "wavegen units extract \$(sed -n JOBp $jobs) --tokenizer $dump/tokenizer.pt --hop $hop"
