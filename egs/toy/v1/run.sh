#!/usr/bin/env bash
# Toy recipe: the offline, embedded default. A corpus rendered here in GTZAN's layout (genre
# arrangements played by a General MIDI SoundFont; or the older procedural one) goes through
# the same stages as the real corpora: corpus -> data dirs -> dump -> train -> synthesize.
#
#   ./run.sh                          # everything
#   ./run.sh --stage 4 --stop-stage 5 # train on (resume, e.g. with a larger --max-steps), resynthesize
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
nj=2                        # parallel jobs for data work
corpus=rendered             # rendered: GM SoundFont arrangements; procedural: synthetic toy
clips_per_genre=12          # corpus size
clip_duration=30.0          # seconds per clip (GTZAN's length)
corpus_seed=1               # the packaged model trained on seed 0: the demo scores it on unseen clips
recording_chain=false       # rendered corpus: add a room and a noise floor to every clip
train_config=conf/train.yaml
max_steps=                  # override train.max_steps (empty: the config's)
train_processes=1           # training processes (GPUs) in the training job (accelerate launch)
synth_duration=4.5          # seconds per synthesized clip (receptive field + 3 s)
synth_count=3               # clips per genre (stage 5), scored in stage 6
synth_seed=0
classifier_steps=600        # evaluation classifier training steps (stage 3)
eval_packaged=true          # stage 6 also scores the packaged default model, for comparison
db=db                       # where the corpus is written
data=data
dump=dump
exp=exp/wavenet
help_message="Usage: $0 [--stage N] [--stop-stage M] [--nj N] [--train-config FILE] [...]
Stages: 0 corpus (--corpus rendered|procedural), 1 data dirs, 2 dump, 3 evaluation
        classifier, 4 train, 5 synthesize, 6 evaluate, 7 listening test and report."
. utils/parse_options.sh
rerun_from=$stage stage=${stage:-0}   # an explicit --stage N re-runs N and later stages
check_stages "$stage" "$stop_stage"

sample_rate=$(grep -E '^sample_rate:' "$train_config" | awk '{print $2}')
sample_rate=${sample_rate:-16000}

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if stage_done "$db/.done" 0; then log "stage 0: corpus exists in $db, skipping"; else
    log "stage 0: writing the $corpus corpus ($clips_per_genre clips x 10 genres) to $db"
    case "$corpus" in
      rendered) chain=(); [ "$recording_chain" = true ] && chain=(--recording-chain)
                wavegen render-corpus "$db" --clips-per-genre "$clips_per_genre" \
                  --duration "$clip_duration" --seed "$corpus_seed" --jobs "$nj" "${chain[@]}" ;;
      procedural) wavegen toy-corpus "$db" --clips-per-genre "$clips_per_genre" \
                    --duration "$clip_duration" --seed "$corpus_seed" ;;
      *) echo "$0: --corpus must be rendered or procedural, got '$corpus'" >&2; exit 2 ;;
    esac
    mark_done "$db/.done"
  fi
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if stage_done "$data/.done" 1; then log "stage 1: $data exists, skipping"; else
    log "stage 1: data preparation -> $data/{train,valid,test}"
    wavegen prepare "$db" "$data" --split random --seed "$corpus_seed"
    mark_done "$data/.done"
  fi
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  if stage_done "$dump/.done" 2; then log "stage 2: $dump exists, skipping"; else
    log "stage 2: dump at $sample_rate Hz -> $dump (logs in $dump/log)"
    steps/dump.sh --cmd "$cpu_cmd" --sample-rate "$sample_rate" "$data" "$dump" train valid test
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
    log "stage 5: $synth_count clip(s) of ${synth_duration}s per genre -> $out"
    steps/synth.sh --cmd "$cpu_cmd" --duration "$synth_duration" --seed "$synth_seed" \
      --count "$synth_count" "$exp/model.pt" "$out"
    mark_done "$out/.done"
  fi
  log "synthesized WAVs: $(cd "$out" && pwd)"
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  name=$(basename "$exp")
  if stage_done "$exp/eval/$name/.done" 6; then log "stage 6: $exp/eval/$name exists, skipping"
  else
    log "stage 6: scoring $exp/synth against $data/test -> $exp/eval/$name/eval.json"
    log "stage 6: $(steps/eval.sh --cmd "$cpu_cmd" --model "$exp/model.pt" --train "$data/train" \
      "$exp/synth" \
      "$data/test" "$classifier" "$exp/eval/$name")"
    mark_done "$exp/eval/$name/.done"
  fi
  if [ "$eval_packaged" = true ]; then
    if stage_done "$exp/eval/packaged/.done" 6; then log "stage 6: packaged model scored, skipping"
    else
      log "stage 6: the packaged default model, same clips and classifier -> $exp/eval/packaged"
      packaged=$(python -c 'from wavegen.models.io import default_model_path; print(default_model_path())')
      steps/synth.sh --cmd "$cpu_cmd" --duration "$synth_duration" --seed "$synth_seed" \
        --count "$synth_count" "$packaged" "$exp/packaged_synth"
      log "stage 6: $(steps/eval.sh --cmd "$cpu_cmd" --train "$data/train" \
        "$exp/packaged_synth" "$data/test" \
        "$classifier" "$exp/eval/packaged")"
      mark_done "$exp/eval/packaged/.done"
    fi
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
  # Absolute paths: the commands below work from wherever the user is (make demo runs here).
  log "listening test: wavegen listen serve $(realpath "$listen") (http://127.0.0.1:8000/)," \
    "then wavegen listen report $(realpath "$listen")"
  log "stage 7: report -> $(realpath "$(wavegen report "$exp")")"
fi
