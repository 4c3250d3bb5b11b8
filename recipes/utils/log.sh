#!/usr/bin/env bash
# Logging and stage helpers for recipes; source it from run.sh and steps/*.sh.
#
#   log "message"           prints "<time> (<script>:<line>:<function>) message" to stderr
#   stage_done MARKER       true if the stage that writes MARKER already finished
#   mark_done MARKER        records that it finished (creates MARKER's folder)

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

stage_done() {
  [ -f "$1" ]
}

mark_done() {
  mkdir -p "$(dirname "$1")"
  date '+%Y-%m-%d %H:%M:%S' > "$1"
}
