#!/usr/bin/env bash
# Check a data dir the way Kaldi's utils/validate_data_dir.sh does for audio-only data:
# required files present, every table C-sorted with unique keys and newline-terminated, the same
# utterances in wav.scp and every utt2* file, spk2utt the inverse of utt2spk, durations > 0.
#
# Usage: utils/validate_data_dir.sh [--no-feats] [--no-text] [--no-wav] <data-dir>
# wavegen data dirs never have feats.scp or text, so those flags are accepted and implied.
set -euo pipefail
while [ $# -gt 0 ]; do
  case "$1" in
    --no-feats | --no-text | --no-wav) shift ;;
    --*) echo "$0: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "Usage: $0 [--no-feats] [--no-text] <data-dir>" >&2; exit 1; }
wavegen validate-data-dir "$1"
