# Two commands do all set-up on a fresh machine (Python >= 3.11):
#   make quickstart   install, fetch the default model, answer a first question
#   make test         install with test tools, lint, type-check, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: quickstart test install bench browser

$(BIN)/autonom: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/autonom

quickstart: install
	$(BIN)/autonom quickstart

test: install browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The web UI's tests drive Debian's Chromium (headless) through Playwright.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

bench: install
	$(BIN)/python benchmarks/engine.py
