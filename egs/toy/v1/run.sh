#!/usr/bin/env bash
# Toy recipe: the offline, embedded default. A procedural corpus in GTZAN's layout goes through
# the same stages as the real corpora: corpus -> data dirs -> dump -> train -> synthesize.
#
#   ./run.sh                          # everything
#   ./run.sh --stage 4 --stop-stage 5 # retrain and resynthesize
# Finished stages leave .done markers and are skipped on re-runs; delete a marker to redo one.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh
. utils/log.sh

stage=0
stop_stage=100
nj=2                        # parallel jobs for data work
clips_per_genre=30          # toy corpus size
clip_duration=6.0           # seconds per toy clip
corpus_seed=0
train_config=conf/train.yaml
max_steps=                  # override train.max_steps (empty: the config's)
synth_duration=2.0          # seconds per synthesized clip
synth_seed=0
db=db                       # where the toy corpus is written
data=data
dump=dump
exp=exp/wavenet
help_message="Usage: $0 [--stage N] [--stop-stage M] [--nj N] [--train-config FILE] [...]
Stages: 0 toy corpus, 1 data dirs, 2 dump, 3 classifier (not yet), 4 train, 5 synthesize,
        6 evaluate (not yet), 7 listening test (not yet)."
. utils/parse_options.sh

sample_rate=$(grep -E '^sample_rate:' "$train_config" | awk '{print $2}')
sample_rate=${sample_rate:-16000}

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if stage_done "$db/.done"; then log "stage 0: toy corpus exists in $db, skipping"; else
    log "stage 0: writing the toy corpus ($clips_per_genre clips x 10 genres) to $db"
    wavegen toy-corpus "$db" --clips-per-genre "$clips_per_genre" --duration "$clip_duration" \
      --seed "$corpus_seed"
    mark_done "$db/.done"
  fi
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if stage_done "$data/.done"; then log "stage 1: $data exists, skipping"; else
    log "stage 1: data preparation -> $data/{train,valid,test}"
    wavegen prepare "$db" "$data" --split random --seed "$corpus_seed"
    mark_done "$data/.done"
  fi
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  if stage_done "$dump/.done"; then log "stage 2: $dump exists, skipping"; else
    log "stage 2: dump at $sample_rate Hz -> $dump (logs in $dump/log)"
    steps/dump.sh --cmd "$cpu_cmd" --sample-rate "$sample_rate" "$data" "$dump" train valid test
    mark_done "$dump/.done"
  fi
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  log "stage 3: evaluation classifier: not part of this recipe yet, nothing to do"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  if stage_done "$exp/.done"; then log "stage 4: $exp is trained, skipping"; else
    log "stage 4: training $exp (progress: tail -f $exp/log/train.log)"
    steps/train.sh --cmd "$train_cmd" --max-steps "$max_steps" "$train_config" "$dump" "$exp"
    mark_done "$exp/.done"
  fi
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  out=$exp/synth
  if stage_done "$out/.done"; then log "stage 5: $out exists, skipping"; else
    log "stage 5: one ${synth_duration}s clip per genre -> $out"
    steps/synth.sh --cmd "$cpu_cmd" --duration "$synth_duration" --seed "$synth_seed" \
      "$exp/model.pt" "$out"
    mark_done "$out/.done"
  fi
  log "synthesized WAVs: $(cd "$out" && pwd)"
fi

if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 6 ]; then
  log "stages 6-7: evaluation and listening tests are not part of this recipe yet"
fi
