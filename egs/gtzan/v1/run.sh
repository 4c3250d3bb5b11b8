#!/usr/bin/env bash
# GTZAN recipe: download -> data dirs (artist-filtered split) -> dump -> units -> train ->
# synthesize.
#
#   ./run.sh                                   # everything, downloading GTZAN to downloads/
#   ./run.sh --db-root /data/gtzan             # use a copy you have (original or Kaggle layout)
#   ./run.sh --stage 5 --stop-stage 6          # retrain and resynthesize
#   ./run.sh --db-root DIR --split random --stage 1 --train-config conf/train_renderer_debug.yaml \
#     --exp exp/renderer_debug                 # a tiny renderer on a GTZAN-layout corpus that is
#                                              # not GTZAN: stage 6 is copy synthesis
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
db_root=                    # an existing copy of GTZAN: skips the download
db=downloads                # where stage 0 downloads and extracts GTZAN
mirror=                     # base URL of a GTZAN copy, tried before the built-in mirrors
checksums=                  # checksum file for a mirror with its own build (wavegen download)
split=filtered              # filtered (the standard artist-filtered split) or random
seed=0                      # seed of --split random
train_config=conf/train.yaml
planner_config=             # a planner (level: plan): stage 5 trains two levels
planner_max_steps=          # override the planner's train.max_steps
max_steps=                  # override train.max_steps (empty: the config's)
train_processes=1           # training processes (GPUs) in the training job (accelerate launch)
synth_duration=5.0          # seconds per synthesized clip
synth_seed=0
resynth_label_only=         # a renderer: one-level model of stage 6's NLL comparison, best at
                            # 16 kHz (empty: the packaged model, 8 kHz)
classifier_steps=3000       # evaluation classifier training steps (stage 3)
n_units=256                 # units of the tokenizer (stage 4)
unit_hop=320                # samples per unit frame (stage 4): 50 frames/s at 16 kHz
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
    log "stage 0: using the copy of GTZAN in $db_root, skipping the download"
  elif stage_done "$db/.gtzan.done" 0; then log "stage 0: GTZAN is in $db, skipping"; else
    log "stage 0: downloading GTZAN into $db"
    wavegen download gtzan --dest "$db" ${mirror:+--mirror "$mirror"} \
      ${checksums:+--checksums "$checksums"}
  fi
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if stage_done "$data/.done" 1; then log "stage 1: $data exists, skipping"; else
    log "stage 1: data preparation ($split split, $nj jobs) -> $data/{train,valid,test}"
    local/prepare_data.sh --cmd "$cpu_cmd" --nj "$nj" --split "$split" --seed "$seed" \
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
    --synth-duration "$synth_duration" --synth-seed "$synth_seed" \
    --resynth-label-only "$resynth_label_only"
fi
