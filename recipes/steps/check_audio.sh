#!/usr/bin/env bash
# Decode every file of listed data dirs in parallel jobs; bad files are dropped and listed.
#
# Usage: steps/check_audio.sh [--cmd utils/run.sh] [--nj 4] [--channels 1] <data-dir>...
#   e.g. steps/check_audio.sh --nj 4 data/train data/valid data/test
#
# Each data dir is cut into (at most) nj parts with "wavegen split-data"; one job per part runs
# "wavegen check-audio" (writes utt2dur, moves unreadable files to bad_files), at most nj at a
# time; "wavegen merge-data" then joins the parts in C-sorted order and validates the result.
# Logs: <parent of the first data dir>/log/check_audio.<job>.log.
set -euo pipefail
cmd=utils/run.sh
nj=4
channels=1
help_message="Usage: $0 [--cmd CMD] [--nj N] [--channels C] <data-dir>..."
. utils/parse_options.sh
[ $# -ge 1 ] || { echo "$help_message" >&2; exit 1; }
. utils/log.sh

logdir=$(dirname "$1")/log
mkdir -p "$logdir"
jobs=$logdir/check_audio.jobs  # line k: the part checked by job k
: >"$jobs"
parts=()
for dir in "$@"; do
  n=$(wc -l <"$dir/wav.scp")
  [ "$n" -lt "$nj" ] || n=$nj
  wavegen split-data "$dir" "$n"
  parts+=("$n")
  for ((j = 1; j <= n; j++)); do echo "$dir/split$n/$j" >>"$jobs"; done
done
total=$(wc -l <"$jobs")
log "checking the audio of $# data dir(s) in $total jobs, $nj at a time (logs: $logdir)"
$cmd --max-jobs-run "$nj" JOB=1:"$total" "$logdir/check_audio.JOB.log" \
  "wavegen check-audio --channels $channels \"\$(sed -n JOBp $jobs)\""
i=0
for dir in "$@"; do
  wavegen merge-data "$dir" "${parts[$i]}"
  log "$dir: $(wc -l <"$dir/wav.scp") clips, $(wc -l <"$dir/bad_files") bad files"
  i=$((i + 1))
done
