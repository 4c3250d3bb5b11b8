#!/usr/bin/env bash
# GTZAN -> data/{train,valid,test}: list the clips of the split, then decode them in parallel
# jobs; unreadable clips (jazz.00054.wav of the Kaggle copy) end up in data/<set>/bad_files.
#
# Usage: local/prepare_data.sh [--cmd CMD] [--nj N] [--split filtered|random] [--seed S] \
#          <corpus-root> <data-root>
# The corpus root has genres/<genre>/<genre>.000NN.{au,wav} or Data/genres_original/<genre>/.
set -euo pipefail
cmd=utils/run.sh
nj=4
split=filtered
seed=0
help_message="Usage: $0 [--cmd CMD] [--nj N] [--split filtered|random] [--seed S] <corpus> <data>"
. utils/parse_options.sh
[ $# -eq 2 ] || { echo "$help_message" >&2; exit 1; }
corpus=$1 data=$2

wavegen prepare "$corpus" "$data" --split "$split" --seed "$seed" --no-check
steps/check_audio.sh --cmd "$cmd" --nj "$nj" "$data/train" "$data/valid" "$data/test"
for s in train valid test; do
  utils/validate_data_dir.sh --no-feats --no-text "$data/$s"
done
