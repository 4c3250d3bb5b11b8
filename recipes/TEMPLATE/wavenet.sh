#!/usr/bin/env bash
# The stages every corpus shares, after its own stages 0 (corpus) and 1 (data dirs):
#   2 dump, 3 evaluation classifier, 4 units (tokenizer and unit tables), 5 train,
#   6 synthesize, 7 evaluate, 8 listening test and report.
# Two levels (--planner-config conf/train_planner.yaml): stage 5 trains the renderer
# (--train-config, a model with local conditioning) into $exp/renderer and the planner into
# $exp/planner on stage 4's units, and packs them into the two-level $exp/model.pt that
# stages 6-8 synthesize, score and test like a one-level model.
# A model trained with local conditioning (a renderer: model.n_units > 0 in its config) has
# no clips of its own to make from a label alone: stage 6 re-synthesizes the test clips from
# their plans and scores them (copy synthesis), stages 7 and 8 take those clips.
# Each egs/<corpus>/v1/run.sh runs its stages 0-1, then calls this script (linked there as
# ./wavenet.sh) with its options; it can also be run on its own from a recipe folder:
#
#   ./wavenet.sh --data data --dump dump --exp exp/wavenet --train-config conf/train.yaml
#
# Finished stages leave .done markers and a plain re-run skips them; an explicit --stage N
# runs stage N and the later ones again (Kaldi's convention), re-using their outputs where
# that is safe (training resumes from its last checkpoint: give a new --exp to train afresh).
set -euo pipefail
. ./path.sh
. ./cmd.sh
. utils/log.sh

stage=                      # first stage (default 2); naming one re-runs it and later ones
stop_stage=100
nj=1                        # parallel jobs of the dump
data=data                   # Kaldi data dirs train/ valid/ test/ (stage 1's output)
dump=dump
exp=exp/wavenet
train_config=conf/train.yaml
planner_config=             # a planner's config (level: plan): stage 5 trains two levels
max_steps=                  # override train.max_steps (empty: the config's)
planner_max_steps=          # override the planner's train.max_steps (empty: its config's)
train_processes=1           # training processes (GPUs) in the training job (accelerate launch)
classifier_steps=600        # evaluation classifier training steps (stage 3)
n_units=256                 # stage 4: units of the tokenizer (k-means clusters, 64-1024)
unit_hop=160                # stage 4: samples per unit frame (rate / hop: 25-100 frames/s)
synth_duration=4.5          # seconds per synthesized clip (receptive field + 3 s)
synth_count=1               # clips per genre (or per tag set); a renderer: one per test clip
synth_seed=0
resynth_label_only=         # a renderer: one-level model of stage 6's NLL comparison (empty: packaged)
synth_tags=                 # tag-conditioned corpora: ";"-separated tag sets of stage 6
copy_check=false            # stage 7: compare every generated clip with the training audio
eval_packaged=false         # stage 7 also scores the packaged default model, for comparison
help_message="Usage: $0 [--stage N] [--stop-stage M] [--data D] [--dump D] [--exp E]
       [--train-config F] [--planner-config F] [...]
Stages: 2 dump, 3 evaluation classifier, 4 units, 5 train, 6 synthesize (a renderer:
        copy synthesis of the test clips), 7 evaluate, 8 listening test and report."
. utils/parse_options.sh
rerun_from=$stage stage=${stage:-2}   # an explicit --stage N re-runs N and later stages
check_stages "$stage" "$stop_stage"

# The model's rate, read by wavegen's own config parser (the dump resamples to it).
sample_rate=$(python -c 'import sys; from wavegen.config import load_config
print(load_config(sys.argv[1]).sample_rate)' "$train_config")

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  if stage_done "$dump/.done" 2; then log "stage 2: $dump exists, skipping"; else
    log "stage 2: dump at $sample_rate Hz ($nj jobs) -> $dump (logs in $dump/log)"
    steps/dump.sh --cmd "$cpu_cmd" --nj "$nj" --sample-rate "$sample_rate" "$data" "$dump" \
      train valid test
    mark_done "$dump/.done"
  fi
fi

classifier=$dump/classifier/classifier.pt   # one per corpus and rate: it lives beside the dump
# A step's summary line is captured before it is logged (summary=$(step ...)): set -e stops
# the run when such an assignment fails, but not when the step fails inside log's arguments.
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  if stage_done "$dump/classifier/.done" 3; then log "stage 3: $classifier exists, skipping"; else
    log "stage 3: evaluation classifier on $dump/train, tested on $dump/test -> $classifier"
    summary=$(steps/train_classifier.sh --cmd "$cpu_cmd" --steps "$classifier_steps" "$dump" \
      "$dump/classifier")
    log "stage 3: $summary"
    mark_done "$dump/classifier/.done"
  fi
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  if stage_done "$dump/.units.done" 4; then log "stage 4: units in $dump exist, skipping"
  else
    log "stage 4: unit tokenizer ($n_units units, hop $unit_hop) fitted on $dump/train ->" \
      "$dump/tokenizer.pt; units of train valid test -> $dump/<set>/units (logs in $dump/log)"
    steps/units.sh --cmd "$cpu_cmd" --nj "$nj" --n-units "$n_units" --hop "$unit_hop" "$dump" \
      train valid test
    mark_done "$dump/.units.done"
  fi
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  if stage_done "$exp/.done" 5; then log "stage 5: $exp is trained, skipping"
  elif [ -n "$planner_config" ]; then
    for level in renderer planner; do
      if [ "$level" = renderer ]; then config=$train_config steps=$max_steps
      else config=$planner_config steps=$planner_max_steps; fi
      if stage_done "$exp/$level/.done" 5; then log "stage 5: $exp/$level is trained, skipping"
      else
        log "stage 5: training the $level $exp/$level (progress: tail -f $exp/$level/log/train.log)"
        summary=$(steps/train.sh --cmd "$train_cmd" --max-steps "$steps" \
          --num-processes "$train_processes" "$config" "$dump" "$exp/$level")
        log "stage 5: $level $summary"
        mark_done "$exp/$level/.done"
      fi
    done
    log "stage 5: two-level model -> $exp/model.pt"
    wavegen pack --planner "$exp/planner/model.pt" --renderer "$exp/renderer/model.pt" \
      --out "$exp/model.pt" >/dev/null
    mark_done "$exp/.done"
  else
    log "stage 5: training $exp (progress: tail -f $exp/log/train.log)"
    steps/train.sh --cmd "$train_cmd" --max-steps "$max_steps" \
      --num-processes "$train_processes" "$train_config" "$dump" "$exp"
    mark_done "$exp/.done"
  fi
fi

# Stages 6-8 ask the trained model whether it renders a plan (wavegen's own model loader).
# Copy synthesis is scored per genre: a renderer conditioned on tags stops here, in one line.
renderer=false
if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 6 ]; then
  renderer=$(python -c 'import sys
from wavegen.errors import WavegenError
from wavegen.models.two_level import TwoLevel, load_generator
try:
    loaded = load_generator(sys.argv[1])
except WavegenError as err:
    sys.exit(f"stages 6-8 need the trained model: {err} (stage 5 writes it)")
if isinstance(loaded, TwoLevel):  # plans and renders from a label: synthesized as usual
    print("two")
    sys.exit(0)
info = loaded[1]
if info.config.n_units > 0 and info.label_kind != "utt2genre":
    sys.exit(f"stage 6: {sys.argv[1]} is a renderer conditioned on tags, and copy synthesis "
             "(stages 6-8) is scored per genre; render a clip from its plan with wavegen resynth "
             f"--model {sys.argv[1]} --genre TAG --out OUT.wav IN.wav, or train the renderer on "
             "a genre corpus")
print(str(info.config.n_units > 0).lower())' "$exp/model.pt")
fi
# A two-level model writes each clip's plan beside it (stage 8's report draws it).
two_level=false
if [ "$renderer" = two ]; then two_level=true renderer=false; fi
# What stage 6 writes and stages 7-8 score: a renderer's copy syntheses of the test clips
# (and the excerpts they were made from), or a one-level model's clips per genre.
if [ "$renderer" = true ]; then
  synth_dir=$exp/resynth gen=$exp/resynth/seed$synth_seed/gen listen_ref=$exp/resynth/ref
else
  synth_dir=$exp/synth gen=$exp/synth listen_ref=$data/test
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  if stage_done "$synth_dir/.done" 6; then log "stage 6: $synth_dir exists, skipping"; else
    if [ "$renderer" = true ]; then
      log "stage 6: copy synthesis: every clip of $data/test (${synth_duration}s) from its own" \
        "plan, seed $synth_seed, scored -> $synth_dir/copy_synthesis.json"
      summary=$(steps/resynth.sh --cmd "$cpu_cmd" --seconds "$synth_duration" \
        --seeds "$synth_seed" --label-only "$resynth_label_only" "$exp/model.pt" \
        "$data/test" "$classifier" "$synth_dir")
      log "stage 6: $summary"
    else
      if [ -n "$synth_tags" ]; then
        log "stage 6: $synth_count clip(s) of ${synth_duration}s per tag set of '$synth_tags'" \
          "-> $synth_dir"
      else
        log "stage 6: $synth_count clip(s) of ${synth_duration}s per genre -> $synth_dir"
      fi
      steps/synth.sh --cmd "$cpu_cmd" --duration "$synth_duration" --seed "$synth_seed" \
        --count "$synth_count" --tags "$synth_tags" --plans "$two_level" "$exp/model.pt" \
        "$synth_dir"
    fi
    mark_done "$synth_dir/.done"
  fi
  gen_path=$(realpath "$gen")
  log "synthesized WAVs: $gen_path"
fi

train_ref=()
[ "$copy_check" = true ] && train_ref=(--train "$data/train")
if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  name=$(basename "$exp")
  scored=$gen
  if stage_done "$exp/eval/$name/.done" 7; then log "stage 7: $exp/eval/$name exists, skipping"
  else
    if [ -n "$synth_tags" ] && [ "$renderer" = false ]; then
      # One clip per tag alone (<tag>_<k>.wav), the form the conditional accuracy is defined on.
      scored=$exp/synth_single
      steps/synth.sh --cmd "$cpu_cmd" --duration "$synth_duration" --seed "$synth_seed" \
        --genre all "$exp/model.pt" "$scored"
    fi
    log "stage 7: scoring $scored against $data/test -> $exp/eval/$name/eval.json"
    summary=$(steps/eval.sh --cmd "$cpu_cmd" --model "$exp/model.pt" "${train_ref[@]}" \
      "$scored" "$data/test" "$classifier" "$exp/eval/$name")
    log "stage 7: $summary"
    mark_done "$exp/eval/$name/.done"
  fi
  if [ "$eval_packaged" = true ]; then
    if stage_done "$exp/eval/packaged/.done" 7; then log "stage 7: packaged model scored, skipping"
    else
      log "stage 7: the packaged default model, same clips and classifier -> $exp/eval/packaged"
      packaged=$(python -c 'from wavegen.models.io import default_model_path
print(default_model_path())')
      steps/synth.sh --cmd "$cpu_cmd" --duration "$synth_duration" --seed "$synth_seed" \
        --count "$synth_count" "$packaged" "$exp/packaged_synth"
      summary=$(steps/eval.sh --cmd "$cpu_cmd" "${train_ref[@]}" "$exp/packaged_synth" \
        "$data/test" "$classifier" "$exp/eval/packaged")
      log "stage 7: $summary"
      mark_done "$exp/eval/packaged/.done"
    fi
  fi
fi

if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 8 ]; then
  if [ -n "$synth_tags" ]; then
    log "stage 8: listening tests match clips by genre; for tags, build one by hand with" \
      "wavegen listen build --type mos --systems wavenet=DIR ... (see docs/listening.md)"
  else
    listen=$exp/listen
    if stage_done "$listen/.done" 8; then log "stage 8: $listen exists, skipping"; else
      log "stage 8: MUSHRA test of $gen against the clips $listen_ref -> $listen"
      wavegen listen build --type mushra --systems wavenet="$gen" --ref "$listen_ref" \
        --out "$listen" --seed 0
      mark_done "$listen/.done"
    fi
    # Absolute paths: the commands below work from wherever the user is (make demo runs here).
    log "listening test: wavegen listen serve $(realpath "$listen") (http://127.0.0.1:8000/)," \
      "then wavegen listen report $(realpath "$listen")"
  fi
  report=$(wavegen report "$exp")
  report=$(realpath "$report")
  log "stage 8: report -> $report"
fi
