#!/usr/bin/env bash
# The GPU check in one command (see benchmarks/gpu_check.py for what it runs):
#   benchmarks/gpu_check.sh [--out exp/gpu_check] [--budget 470] [--quick]
# Uses the project's .venv when there is one. Exit status 1 on any mismatch, failure or timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python
exec "$python" benchmarks/gpu_check.py "$@"
