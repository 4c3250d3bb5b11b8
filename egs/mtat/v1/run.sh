#!/usr/bin/env bash
# MagnaTagATune recipe: download -> data dirs (folder split, top tags) -> dump -> units ->
# train -> synth.
#
#   ./run.sh                                   # everything, downloading MTAT to downloads/
#   ./run.sh --db-root /data/mtat              # use a copy you have (annotations_final.csv, mp3s)
#   ./run.sh --stage 5 --stop-stage 6          # retrain and resynthesize
# Finished stages leave .done markers and a plain re-run skips them; an explicit --stage N
# runs stage N and the later ones again (Kaldi's convention), re-using their outputs where
# that is safe (training resumes from its last checkpoint: give a new --exp to train afresh).
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh
. utils/log.sh

stage=                      # first stage (default 0); naming one re-runs it and later ones
stop_stage=100
nj=4                        # parallel jobs for data preparation and dump
db_root=                    # an existing copy of MagnaTagATune: skips the download
db=downloads                # where stage 0 downloads and extracts MagnaTagATune
mirror=                     # base URL of an MTAT copy, tried before the built-in mirrors
checksums=                  # checksum file for a mirror with its own build (wavegen download)
n_tags=50                   # keep the training folders' n most frequent tags
tag_list=                   # or the tags of this file (one a line); "standard": the usual top 50
train_config=conf/train.yaml
planner_config=             # a planner (level: plan): stage 5 trains two levels
planner_max_steps=          # override the planner's train.max_steps
max_steps=                  # override train.max_steps (empty: the config's)
train_processes=1           # training processes (GPUs) in the training job (accelerate launch)
synth_duration=5.0          # seconds per synthesized clip
synth_seed=0
classifier_steps=3000       # evaluation classifier training steps (stage 3)
n_units=256                 # units of the tokenizer (stage 4)
unit_hop=320                # samples per unit frame (stage 4): 50 frames/s at 16 kHz
synth_tags="rock,guitar,fast;classical,piano,slow;techno,electronic,beat"  # ";" between clips
data=data
dump=dump
exp=exp/wavenet
help_message="Usage: $0 [--stage N] [--stop-stage M] [--nj N] [--db-root DIR] [--train-config FILE] [...]
Stages: 0 download, 1 data dirs, 2 dump, 3 evaluation classifier, 4 units, 5 train,
        6 synthesize, 7 evaluate, 8 listening test and report."
. utils/parse_options.sh
rerun_from=$stage stage=${stage:-0}   # an explicit --stage N re-runs N and later stages
check_stages "$stage" "$stop_stage"

corpus=${db_root:-$db}

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -n "$db_root" ]; then
    [ -d "$db_root" ] || { log "stage 0: --db-root $db_root is not a folder"; exit 1; }
    log "stage 0: using the copy of MagnaTagATune in $db_root, skipping the download"
  elif stage_done "$db/.mtat.done" 0; then log "stage 0: MagnaTagATune is in $db, skipping"; else
    log "stage 0: downloading MagnaTagATune into $db"
    wavegen download mtat --dest "$db" ${mirror:+--mirror "$mirror"} \
      ${checksums:+--checksums "$checksums"}
  fi
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if stage_done "$data/.done" 1; then log "stage 1: $data exists, skipping"; else
    log "stage 1: data preparation (folder split, $nj jobs) -> $data/{train,valid,test}"
    local/prepare_data.sh --cmd "$cpu_cmd" --nj "$nj" --n-tags "$n_tags" --tag-list "$tag_list" \
      "$corpus" "$data"
    mark_done "$data/.done"
  fi
fi

# Stages 2-8 are the same for every corpus: recipes/TEMPLATE/wavenet.sh (linked here).
if [ "$stop_stage" -ge 2 ]; then
  ./wavenet.sh --stage "$rerun_from" --stop-stage "$stop_stage" --nj "$nj" --data "$data" \
    --dump "$dump" --exp "$exp" --train-config "$train_config" --max-steps "$max_steps" \
    --planner-config "$planner_config" --planner-max-steps "$planner_max_steps" \
    --train-processes "$train_processes" --classifier-steps "$classifier_steps" \
    --n-units "$n_units" --unit-hop "$unit_hop" \
    --synth-duration "$synth_duration" --synth-seed "$synth_seed" --synth-tags "$synth_tags"
fi
