# The two newcomer commands: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints.txt

.PHONY: run test lint typecheck contracts unit bench lock clean hadolint

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "marketbot needs Python 3.11 or newer: run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(VENV)/.runtime: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[all]"
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	@touch $@

## Start the bot on its embedded defaults (SQLite in ./data, console output, no tokens).
run: $(VENV)/.runtime
	$(BIN)/marketbot run

## Lint, type checks, layer contracts and the whole test suite.
test: $(VENV)/.dev lint typecheck contracts hadolint
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

contracts: $(VENV)/.dev
	$(BIN)/lint-imports

hadolint: $(VENV)/.dev
	$(BIN)/hadolint Dockerfile

## Benchmarks: each prints its ratio against a baseline measured in the same run; then one summary
## table of every figure, its target, met or not. BENCH="--quick" for smaller runs, or bench names.
bench: $(VENV)/.dev
	$(BIN)/python bench/summary.py $(BENCH)

## Re-pin constraints.txt from the current venv (after changing dependencies).
lock: $(VENV)/.dev
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^marketbot' > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
