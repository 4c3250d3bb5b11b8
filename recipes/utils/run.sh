#!/usr/bin/env bash
# Run a command locally, optionally as several parallel jobs, logging each to a file.
#
#   utils/run.sh [options] [JOB=a:b] LOGFILE COMMAND...
#
#   utils/run.sh exp/log/hello.log echo hello
#   utils/run.sh --max-jobs-run 2 JOB=1:4 exp/log/split.JOB.log \
#     "python local/split.py --part JOB --of 4 | sort > data/part.JOB.txt"
#
# This is the local runner that cmd.sh points train_cmd/decode_cmd at; utils/slurm.sh has the
# same interface and submits to a Slurm cluster instead.
#
# With JOB=a:b the command runs b-a+1 times in parallel; every "JOB" in LOGFILE and in the command
# is replaced by the job index (any VAR=a:b works the same way for the string VAR). Without a
# range the command runs once and nothing is replaced.
#
# The COMMAND words are joined with spaces and run by "bash -c", so a quoted command may contain
# pipes and redirections; quote words that contain spaces a second time for that inner shell.
# Its stdout and stderr go to LOGFILE (parent directories are created) and stdin is /dev/null.
# The log starts with "# <command>" and "# Started at <date>" and ends with
# "# Accounting: time=<seconds> threads=1" and "# Ended (code <status>) at <date>".
#
# Options:
#   --max-jobs-run N   run at most N jobs at once (default: all of them)
#   --name value       any other option (e.g. --mem 4G, --gpu 1, --num-threads 4, which cmd.sh
#                      may pass for a cluster) is accepted and ignored
#
# Exit status: 0 if every job succeeded; 1 on a usage error, or if any job failed, after printing
# "run.sh: K / N failed, log is in LOGFILE" to stderr.
#
# utils/slurm.sh sources this file for parse_job_args and run_job; sourcing runs nothing.
set -euo pipefail

prog=${0##*/}

job_usage() {
  echo "Usage: $prog [options] [JOB=a:b] LOGFILE COMMAND..." >&2
  echo "See the header of $prog for the options." >&2
}

# Parse "[options] [VAR=a:b] LOGFILE COMMAND..." into these globals:
#   opt_max_jobs_run, opt_mem, opt_gpu, opt_num_threads  (empty when not given)
#   other_opts     array of other "--name value" words, left to the caller to judge
#   job_var        the string to replace (empty without a range); job_first, job_last
#   log_pattern    LOGFILE before substitution; job_command  the COMMAND words joined by spaces
parse_job_args() {
  opt_max_jobs_run='' opt_mem='' opt_gpu='' opt_num_threads=''
  other_opts=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --*=* | --) echo "$prog: write options as '--name value', got '$1'" >&2; exit 1 ;;
      --*) ;;
      *) break ;;
    esac
    if [ $# -lt 2 ]; then
      echo "$prog: missing value for option $1" >&2
      exit 1
    fi
    # shellcheck disable=SC2034  # opt_mem, opt_gpu, opt_num_threads are read by utils/slurm.sh
    case "$1" in
      --max-jobs-run) opt_max_jobs_run=$2 ;;
      --mem) opt_mem=$2 ;;
      --gpu) opt_gpu=$2 ;;
      --num-threads) opt_num_threads=$2 ;;
      *) other_opts+=("$1" "$2") ;;
    esac
    shift 2
  done
  local opt value
  for opt in max_jobs_run gpu num_threads; do
    value=opt_$opt
    if [ -n "${!value}" ] && ! [[ ${!value} =~ ^[0-9]+$ ]]; then
      echo "$prog: --${opt//_/-} takes a whole number, got '${!value}'" >&2
      exit 1
    fi
  done
  if [ "$opt_max_jobs_run" = 0 ]; then
    echo "$prog: --max-jobs-run must be at least 1" >&2
    exit 1
  fi

  job_var='' job_first=1 job_last=1
  if [[ ${1:-} =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
    job_var=${BASH_REMATCH[1]}
    job_first=$((10#${BASH_REMATCH[2]}))
    job_last=$((10#${BASH_REMATCH[3]}))
    shift
    if [ "$job_first" -gt "$job_last" ]; then
      echo "$prog: empty job range $job_var=$job_first:$job_last" >&2
      exit 1
    fi
  fi
  if [ $# -lt 2 ]; then
    job_usage
    exit 1
  fi
  log_pattern=$1
  shift
  if [ "$job_last" -gt "$job_first" ] && [[ $log_pattern != *"$job_var"* ]]; then
    echo "$prog: $((job_last - job_first + 1)) jobs would share one log;" \
      "put $job_var in '$log_pattern'" >&2
    exit 1
  fi
  job_command="$*"
}

# run_job LOGFILE COMMAND: run COMMAND with "bash -c", logging as described above.
# Returns the command's exit status (or 1 if the log cannot be written).
run_job() {
  local log=$1 cmd=$2 start rc
  mkdir -p "$(dirname "$log")" || return 1
  printf '# %s\n# Started at %s\n' "$cmd" "$(date)" >"$log" || return 1
  start=$SECONDS
  bash -c "$cmd" </dev/null >>"$log" 2>&1 && rc=0 || rc=$?
  printf '# Accounting: time=%d threads=1\n# Ended (code %d) at %s\n' \
    $((SECONDS - start)) "$rc" "$(date)" >>"$log"
  return "$rc"
}

main() {
  parse_job_args "$@"  # cluster options (--mem, --gpu, ...) are ignored here

  local num_jobs=$((job_last - job_first + 1))
  local max_running=${opt_max_jobs_run:-$num_jobs}
  local job running=0 failed=0
  for ((job = job_first; job <= job_last; job++)); do
    if [ "$running" -ge "$max_running" ]; then
      wait -n || failed=$((failed + 1))
      running=$((running - 1))
    fi
    if [ -n "$job_var" ]; then
      run_job "${log_pattern//"$job_var"/$job}" "${job_command//"$job_var"/$job}" &
    else
      run_job "$log_pattern" "$job_command" &
    fi
    running=$((running + 1))
  done
  for ((; running > 0; running--)); do
    wait -n || failed=$((failed + 1))
  done

  if [ "$failed" -gt 0 ]; then
    echo "$prog: $failed / $num_jobs failed, log is in $log_pattern" >&2
    exit 1
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
