#!/usr/bin/env bash
# MagnaTagATune -> data/{train,valid,test} with utt2tags: folder split (train 0-b, valid c,
# test d-f), top tags, clips without a kept tag dropped; then the mp3s are decoded in parallel
# jobs and the broken ones (three empty files in the real corpus) go to data/<set>/bad_files.
#
# Usage: local/prepare_data.sh [--cmd CMD] [--nj N] [--n-tags 50] [--tag-list FILE|standard] \
#          <corpus-root> <data-root>
# The corpus root has annotations_final.csv and the mp3 folders 0-f (directly or under mp3/).
set -euo pipefail
cmd=utils/run.sh
nj=4
n_tags=50
tag_list=
help_message="Usage: $0 [--cmd CMD] [--nj N] [--n-tags N] [--tag-list FILE] <corpus> <data>"
. utils/parse_options.sh
[ $# -eq 2 ] || { echo "$help_message" >&2; exit 1; }
corpus=$1 data=$2

wavegen prepare-mtat "$corpus" "$data" --n-tags "$n_tags" ${tag_list:+--tag-list "$tag_list"} \
  --no-check
steps/check_audio.sh --cmd "$cmd" --nj "$nj" "$data/train" "$data/valid" "$data/test"
for s in train valid test; do
  utils/validate_data_dir.sh --no-feats --no-text "$data/$s"
done
