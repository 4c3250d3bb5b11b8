# Environment for this recipe: the wavegen CLI on PATH and C-locale sorting.
MAIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
if ! command -v wavegen >/dev/null 2>&1 && [ -x "$MAIN_ROOT/.venv/bin/wavegen" ]; then
  export PATH="$MAIN_ROOT/.venv/bin:$PATH"
fi
export LC_ALL=C
export PYTHONUNBUFFERED=1
