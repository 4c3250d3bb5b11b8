#!/usr/bin/env bash
# Toy recipe: the offline, embedded default. A corpus rendered here in GTZAN's layout (genre
# arrangements played by a General MIDI SoundFont; or the older procedural one) goes through
# the same stages as the real corpora: corpus -> data dirs -> dump -> units -> train -> synthesize.
#
#   ./run.sh                          # everything: two levels (a planner and a renderer)
#   ./run.sh --stage 5 --stop-stage 6 # train on (resume, e.g. with a larger --max-steps), resynthesize
#   ./run.sh --train-config conf/train.yaml --planner-config "" --exp exp/one_level
#                                     # one level: a WaveNet on the genre alone
#   ./run.sh --train-config conf/train_renderer.yaml --planner-config "" --exp exp/renderer
#                                     # a renderer alone on stage 4's units: stage 6 is copy synthesis
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
train_config=conf/train_renderer_demo.yaml  # the renderer (or a one-level model: conf/train.yaml
                            # with --planner-config "")
planner_config=conf/train_planner_demo.yaml  # the planner: stage 5 trains two levels
planner_max_steps=          # override the planner's train.max_steps
max_steps=                  # override train.max_steps (empty: the config's)
train_processes=1           # training processes (GPUs) in the training job (accelerate launch)
synth_duration=4.5          # seconds per synthesized clip (receptive field + 3 s)
synth_count=3               # clips per genre (stage 6), scored in stage 7
synth_seed=0
classifier_steps=600        # evaluation classifier training steps (stage 3)
n_units=256                 # units of the tokenizer (stage 4)
unit_hop=160                # samples per unit frame (stage 4): 50 frames/s at 8 kHz
eval_packaged=true          # stage 7 also scores the packaged default model, for comparison
db=db                       # where the corpus is written
data=data
dump=dump
exp=exp/wavenet
help_message="Usage: $0 [--stage N] [--stop-stage M] [--nj N] [--train-config FILE] [...]
Stages: 0 corpus (--corpus rendered|procedural), 1 data dirs, 2 dump, 3 evaluation
        classifier, 4 units, 5 train, 6 synthesize, 7 evaluate, 8 listening test and report."
. utils/parse_options.sh
rerun_from=$stage stage=${stage:-0}   # an explicit --stage N re-runs N and later stages
check_stages "$stage" "$stop_stage"


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

# Stages 2-8 are the same for every corpus: recipes/TEMPLATE/wavenet.sh (linked here).
if [ "$stop_stage" -ge 2 ]; then
  ./wavenet.sh --stage "$rerun_from" --stop-stage "$stop_stage" --nj "$nj" --data "$data" \
    --dump "$dump" --exp "$exp" --train-config "$train_config" --max-steps "$max_steps" \
    --planner-config "$planner_config" --planner-max-steps "$planner_max_steps" \
    --train-processes "$train_processes" --classifier-steps "$classifier_steps" \
    --n-units "$n_units" --unit-hop "$unit_hop" \
    --synth-duration "$synth_duration" --synth-seed "$synth_seed" \
    --synth-count "$synth_count" --copy-check true --eval-packaged "$eval_packaged"
fi
