#!/usr/bin/env bash
# GTZAN recipe: download -> data dirs (artist-filtered split) -> dump -> train -> synthesize.
#
#   ./run.sh                                   # everything, downloading GTZAN to downloads/
#   ./run.sh --db-root /data/gtzan             # use a copy you have (original or Kaggle layout)
#   ./run.sh --stage 4 --stop-stage 5          # retrain and resynthesize
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
max_steps=                  # override train.max_steps (empty: the config's)
train_processes=1           # training processes (GPUs) in the training job (accelerate launch)
synth_duration=5.0          # seconds per synthesized clip
synth_seed=0
classifier_steps=3000       # evaluation classifier training steps (stage 3)
data=data
dump=dump
exp=exp/wavenet
help_message="Usage: $0 [--stage N] [--stop-stage M] [--nj N] [--db-root DIR] [--train-config FILE] [...]
Stages: 0 download, 1 data dirs, 2 dump, 3 evaluation classifier, 4 train, 5 synthesize,
        6 evaluate, 7 listening test and report."
. utils/parse_options.sh
rerun_from=$stage stage=${stage:-0}   # an explicit --stage N re-runs N and later stages
check_stages "$stage" "$stop_stage"

sample_rate=$(grep -E '^sample_rate:' "$train_config" | awk '{print $2}')
sample_rate=${sample_rate:-16000}
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

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  if stage_done "$dump/.done" 2; then log "stage 2: $dump exists, skipping"; else
    log "stage 2: dump at $sample_rate Hz ($nj jobs) -> $dump (logs in $dump/log)"
    steps/dump.sh --cmd "$cpu_cmd" --nj "$nj" --sample-rate "$sample_rate" "$data" "$dump" \
      train valid test
    mark_done "$dump/.done"
  fi
fi

classifier=$dump/classifier/classifier.pt   # one per corpus and rate: it lives beside the dump
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  if stage_done "$dump/classifier/.done" 3; then log "stage 3: $classifier exists, skipping"; else
    log "stage 3: evaluation classifier on $dump/train, tested on $dump/test -> $classifier"
    log "stage 3: $(steps/train_classifier.sh --cmd "$cpu_cmd" --steps "$classifier_steps" \
      "$dump" "$dump/classifier")"
    mark_done "$dump/classifier/.done"
  fi
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  if stage_done "$exp/.done" 4; then log "stage 4: $exp is trained, skipping"; else
    log "stage 4: training $exp (progress: tail -f $exp/log/train.log)"
    steps/train.sh --cmd "$train_cmd" --max-steps "$max_steps" \
      --num-processes "$train_processes" "$train_config" "$dump" "$exp"
    mark_done "$exp/.done"
  fi
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  out=$exp/synth
  if stage_done "$out/.done" 5; then log "stage 5: $out exists, skipping"; else
    log "stage 5: one ${synth_duration}s clip per genre -> $out"
    steps/synth.sh --cmd "$cpu_cmd" --duration "$synth_duration" --seed "$synth_seed" \
      "$exp/model.pt" "$out"
    mark_done "$out/.done"
  fi
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  name=$(basename "$exp")
  if stage_done "$exp/eval/$name/.done" 6; then log "stage 6: $exp/eval/$name exists, skipping"
  else
    log "stage 6: scoring $exp/synth against $data/test -> $exp/eval/$name/eval.json"
    log "stage 6: $(steps/eval.sh --cmd "$cpu_cmd" --model "$exp/model.pt" "$exp/synth" \
      "$data/test" "$classifier" "$exp/eval/$name")"
    mark_done "$exp/eval/$name/.done"
  fi
fi

if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  listen=$exp/listen
  if stage_done "$listen/.done" 7; then log "stage 7: $listen exists, skipping"; else
    log "stage 7: MUSHRA test of $exp/synth against the test clips $data/test -> $listen"
    wavegen listen build --type mushra --systems wavenet="$exp/synth" --ref "$data/test" \
      --out "$listen" --seed 0
    mark_done "$listen/.done"
  fi
  log "listening test: wavegen listen serve $listen, then wavegen listen report $listen"
  log "stage 7: report -> $(wavegen report "$exp")"
fi
