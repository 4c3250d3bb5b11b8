# The two set-up commands. Both create .venv and install what they need.
#   make demo   run the toy recipe end to end (offline) and print where the WAVs are
#   make test   run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint clean-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m wavegen.engine
	touch $@

install: $(VENV)/.installed

demo: install
	PATH="$(abspath $(BIN)):$$PATH" bash egs/toy/v1/run.sh

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check wavegen tests benchmarks
	$(BIN)/mypy wavegen

clean-demo:
	rm -rf egs/toy/v1/db egs/toy/v1/data egs/toy/v1/dump egs/toy/v1/exp
