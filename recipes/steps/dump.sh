#!/usr/bin/env bash
# Resample the data dirs of a recipe into memory-mapped dumps.
#
# Usage: steps/dump.sh [--cmd utils/run.sh] [--nj N] [--sample-rate 16000] <data-root> <dump-root> <set>...
#   e.g. steps/dump.sh data dump train valid test   -> dump/{train,valid,test}
#
# Without --nj: one job per set. With --nj N: each set is cut into (at most) N parts
# ("wavegen split-data"), one job per part, at most N at a time, and the part dumps are joined
# with "wavegen merge-dump". Logs: <dump-root>/log/dump.<job>.log.
set -euo pipefail
cmd=utils/run.sh
nj=
sample_rate=16000
help_message="Usage: $0 [--cmd CMD] [--nj N] [--sample-rate HZ] <data-root> <dump-root> <set>..."
. utils/parse_options.sh
[ $# -ge 3 ] || { echo "$help_message" >&2; exit 1; }
data=$1 dump=$2
shift 2
sets=("$@")
# Each job is one single-threaded worker; parallelism comes from the number of jobs.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$dump/log"
jobs=$dump/log/dump.jobs  # line k: "<data dir> <dump dir>" of job k
: >"$jobs"
parts=()
for s in "${sets[@]}"; do
  n=1
  if [ -n "$nj" ]; then
    n=$(wc -l <"$data/$s/wav.scp")
    [ "$n" -lt "$nj" ] || n=$nj
  fi
  parts+=("$n")
  if [ "$n" -eq 1 ]; then
    echo "$data/$s $dump/$s" >>"$jobs"
  else
    wavegen split-data "$data/$s" "$n"
    for ((j = 1; j <= n; j++)); do echo "$data/$s/split$n/$j $dump/$s/split$n/$j" >>"$jobs"; done
  fi
done
total=$(wc -l <"$jobs")
$cmd --max-jobs-run "${nj:-$total}" JOB=1:"$total" "$dump/log/dump.JOB.log" \
  "wavegen dump \$(sed -n JOBp $jobs) --sample-rate $sample_rate"
i=0
for s in "${sets[@]}"; do
  n=${parts[$i]}
  if [ "$n" -gt 1 ]; then
    part_dumps=()
    for ((j = 1; j <= n; j++)); do part_dumps+=("$dump/$s/split$n/$j"); done
    wavegen merge-dump "$dump/$s" "${part_dumps[@]}"
    rm -r "$dump/$s/split$n" "$data/$s/split$n"
  fi
  i=$((i + 1))
done
