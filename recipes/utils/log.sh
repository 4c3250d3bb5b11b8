#!/usr/bin/env bash
# Logging and stage helpers for recipes; source it from run.sh and steps/*.sh.
#
#   log "message"           prints "<time> (<script>:<line>:<function>) message" to stderr
#   stage_done MARKER N     true if stage N (which writes MARKER) already finished and was not
#                           asked for: run.sh sets rerun_from to an explicit --stage, and
#                           stages from there on run again
#   mark_done MARKER        records that it finished (creates MARKER's folder)
#   check_stages S E        exits 2 unless --stage S and --stop-stage E are stage numbers

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

stage_done() {
  [ -f "$1" ] || return 1
  if [ -n "${2:-}" ] && [ -n "${rerun_from:-}" ] && [ "$2" -ge "$rerun_from" ]; then
    echo -e "$(date '+%Y-%m-%d %H:%M:%S') stage $2 finished before; running it again" \
      "(--stage $rerun_from)" >&2
    return 1
  fi
}

mark_done() {
  mkdir -p "$(dirname "$1")"
  date '+%Y-%m-%d %H:%M:%S' > "$1"
}

check_stages() {
  local name value
  for name in stage stop-stage; do
    if [ "$name" = stage ]; then value=$1; else value=$2; fi
    if ! [[ "$value" =~ ^[0-9]+$ ]]; then
      echo "${0##*/}: --$name must be a stage number (0, 1, 2, ...), got '$value'" >&2
      exit 2
    fi
  done
}
