#!/usr/bin/env bash
# Synthesize clips of a model into <out-dir>: every genre (or tag) by default, in one batched
# run, or one run per tag set of --tags for a tag-conditioned model.
#
# Usage: steps/synth.sh [--cmd utils/run.sh] [--duration S] [--count N] [--seed S]
#                       [--temperature T] [--guidance S] [--genre all] [--tags "a,b;c,d"]
#                       [--plans true] <model.pt> <out-dir>
#   --temperature, --guidance   empty (default): the model file's own sampling defaults
#   --tags "rock,guitar,fast;classical,piano"   two tag sets, --count clips each
#   --plans true   a two-level model: each clip's plan to <out-dir>/plans/<clip>.plan.json
set -euo pipefail
cmd=utils/run.sh
duration=2.0
count=1
seed=0
temperature=
guidance=
genre=all
tags=
plans=false
help_message="Usage: $0 [options] <model.pt> <out-dir>"
. utils/parse_options.sh
[ $# -eq 2 ] || { echo "$help_message" >&2; exit 1; }
model=$1 out=$2
mkdir -p "$out/log"
common=(--model "$model" --count "$count" --duration "$duration" --seed "$seed" --out-dir "$out")
[ -z "$temperature" ] || common+=(--temperature "$temperature")
[ -z "$guidance" ] || common+=(--guidance "$guidance")
[ "$plans" = true ] && common+=(--plan-out "$out/plans")
if [ -z "$tags" ]; then
  $cmd "$out/log/synth.log" wavegen synth --genre "$genre" "${common[@]}"
else
  IFS=';' read -r -a tag_sets <<<"$tags"
  for k in "${!tag_sets[@]}"; do
    $cmd "$out/log/synth.$((k + 1)).log" wavegen synth --tags "'${tag_sets[$k]}'" "${common[@]}"
  done
fi
