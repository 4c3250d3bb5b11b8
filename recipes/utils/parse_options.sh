#!/usr/bin/env bash
# Parse "--name value" command-line options into shell variables (Kaldi convention).
#
# Source this file from a recipe script after declaring every variable that may be set from the
# command line. Each "--name value" pair assigns "value" to the shell variable "name"; dashes in
# the name become underscores, so "--stop-stage 3" and "--stop_stage 3" are the same option.
#
#   stage=0
#   stop_stage=100
#   use_gpu=false
#   help_message="Usage: $0 [options] <data-dir>"
#   . utils/parse_options.sh
#   # "$@" now holds only the positional arguments, e.g. <data-dir>.
#
# Rules:
#   --config FILE   FILE is sourced before any other option is applied, wherever it appears
#                   among the options; later options override what it sets.
#   --name value    "name" must already be declared (it may be empty), else it is an invalid
#                   option. If its old value is true or false, the new value must be too.
#   --name=value    rejected: write "--name value".
#   --help, -h      prints $help_message (or a generic message) to stderr and exits 0.
# The first argument that does not start with "--" (other than -h) ends the options; it and
# everything after it stay in "$@". Any error prints a message to stderr and exits 1.
#
# Works under "set -euo pipefail". Variables named __po_* are used internally and unset at the end.

__po_err() {
  echo "parse_options.sh: $*" >&2
  exit 1
}

# The options of a script, generated from the variables it declares before sourcing this file:
# "  --name VALUE   comment", VALUE being the default ("" when empty).
__po_options_help() {
  [ -f "$1" ] || return 0
  echo "Options, as --name value (dashes or underscores), defaults in brackets; --config FILE"
  echo "sources a shell file of name=value settings first:"
  awk '
    /parse_options\.sh/ { exit }
    /^[a-z][a-z0-9_]*=/ && !/^help_message=/ {
      name = $0; sub(/=.*/, "", name); gsub(/_/, "-", name)
      value = $0; sub(/^[^=]*=/, "", value)
      comment = ""
      if (match(value, /[ \t]+#[ \t]*/)) { comment = substr(value, RSTART + RLENGTH); value = substr(value, 1, RSTART - 1) }
      gsub(/^"|"$/, "", value)
      printf "  --%-18s [%s]%s\n", name, value, (comment == "" ? "" : "  " comment)
    }' "$1"
}

# First pass: source every --config file, so the options parsed below override it.
__po_i=1
while [ "$__po_i" -le $# ]; do
  case "${!__po_i}" in
    --config)
      __po_i=$((__po_i + 1))
      [ "$__po_i" -le $# ] || __po_err "missing value for option --config"
      [ -f "${!__po_i}" ] || __po_err "config file '${!__po_i}' not found (from --config)"
      __po_name=${!__po_i}
      case "${__po_name,,}" in
        *.yaml | *.yml)
          __po_err "--config takes a shell file of option settings (name=value lines), not" \
            "'${!__po_i}'; a training config goes to --train-config FILE" ;;
      esac
      # shellcheck disable=SC1090
      . "${!__po_i}"
      __po_i=$((__po_i + 1))
      ;;
    --help | -h | --*=*) break ;;  # reported by the second pass
    --*) __po_i=$((__po_i + 2)) ;;
    *) break ;;
  esac
done

# Second pass: apply the options in order and shift them away.
while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h)
      if [ -n "${help_message:-}" ]; then
        echo "$help_message" >&2
      else
        echo "Usage: $0 [--name value ...] [args]; each --name sets a variable declared in $0" >&2
      fi
      __po_options_help "$0" >&2
      exit 0
      ;;
    --*=*)
      __po_err "option '$1' uses '='; write it as '${1%%=*} ${1#*=}'"
      ;;
    --config)
      shift 2  # already sourced in the first pass
      ;;
    --*)
      __po_name=${1#--}
      __po_name=${__po_name//-/_}
      # The name must be a valid, declared shell variable (and not one of ours).
      if ! [[ $__po_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [[ $__po_name == __po_* ]] \
        || [ -z "${!__po_name+x}" ]; then
        __po_err "invalid option $1"
      fi
      [ $# -ge 2 ] || __po_err "missing value for option $1"
      case "${!__po_name}" in
        true | false)
          case "$2" in
            true | false) ;;
            *) __po_err "option $1 takes true or false, got '$2'" ;;
          esac
          ;;
      esac
      printf -v "$__po_name" '%s' "$2"
      shift 2
      ;;
    *)
      break
      ;;
  esac
done

unset __po_i __po_name
unset -f __po_err __po_options_help
