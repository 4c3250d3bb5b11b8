#!/usr/bin/env bash
# Copy synthesis with a renderer: re-synthesize every clip of <ref-data-dir> from its own plan
# of units (an excerpt of --seconds), once per seed, and score the renders (wavegen
# eval-resynth): writes <out-dir>/seed<S>/gen/<genre>_<k>.wav, <out-dir>/ref (the excerpts),
# <out-dir>/copy_synthesis.json, and prints the bars' values.
#
# Usage: steps/resynth.sh [--cmd utils/run.sh] [--seconds S] [--seeds "0 1"] [--label-only M]
#                         <renderer.pt> <ref-data-dir> <classifier.pt> <out-dir>
#   --label-only   the one-level model of the NLL comparison (default: the packaged model)
set -euo pipefail
cmd=utils/run.sh
seconds=8.0
seeds=0
label_only=
help_message="Usage: $0 [options] <renderer.pt> <ref-data-dir> <classifier.pt> <out-dir>"
. utils/parse_options.sh
[ $# -eq 4 ] || { echo "$help_message" >&2; exit 1; }
model=$1 ref=$2 classifier=$3 out=$4
mkdir -p "$out/log"
extra=()
[ -z "$label_only" ] || extra+=(--label-only "$label_only")
read -r -a seed_list <<<"$seeds"
$cmd "$out/log/resynth.log" wavegen eval-resynth --ref "$ref" --model "$model" \
  --classifier "$classifier" --out "$out" --seconds "$seconds" --seeds "${seed_list[@]}" \
  "${extra[@]}"
grep -v '^#' "$out/log/resynth.log" | tail -n 1
