# Two commands do all set-up on a fresh machine (Python >= 3.11):
#   make quickstart   install, fetch the default model, answer a first question
#   make test         install with test tools, lint, type-check, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: quickstart test install bench

$(BIN)/autonom: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/autonom

quickstart: install
	$(BIN)/autonom quickstart

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/engine.py
