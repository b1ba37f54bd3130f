# Two commands do all set-up on a fresh machine (Python >= 3.11):
#   make quickstart   install, fetch the default model, answer a first question
#   make test         install with test tools, lint, type-check, run the whole test suite
#   make integration  only the tests that drive other applications against autonom
#   make test-fast    lint, type-check and the tests that need neither the engine nor other
#                     applications (a quick check while working)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: quickstart test test-fast install tune-deps bench browser build-tools native integration \
	integration-deps

$(BIN)/autonom: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(BIN)/autonom

# Post-training's libraries (torch CPU build, transformers, peft): for `autonom tune` and its
# tests, not needed to serve or answer.
$(VENV)/.tune: $(BIN)/autonom
	$(BIN)/python -m pip install --quiet -e ".[dev,tune]"
	touch $@

tune-deps: $(VENV)/.tune

quickstart: install
	$(BIN)/autonom quickstart

test: install tune-deps browser build-tools integration-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

test-fast: install browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not engine and not integration"

integration: install integration-deps
	$(BIN)/python -m pytest -m integration

# JavaScript clients driven by the integration tests: Node.js (Debian's, when there is none)
# and the packages pinned in each folder's package-lock.json.
# n8n (integrations/n8n, about 1.8 GB and 4 minutes to install) runs headless from there.
# npm's download cache (0.5 GB for n8n) is a throwaway folder, removed after the install.
JS := integrations/js
N8N := integrations/n8n
OWUI := integrations/open-webui
integration-deps: $(JS)/node_modules/.package-lock.json $(N8N)/node_modules/.package-lock.json \
	$(OWUI)/.venv/.installed

%/node_modules/.package-lock.json: %/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm; }
	rm -rf $*/.npm-cache
	npm ci --prefix $* --cache $*/.npm-cache --no-audit --no-fund --loglevel=error
	rm -rf $*/.npm-cache
	touch $@

# Open WebUI (about 2.9 GB and 2 minutes to install) in its own virtual environment: its
# pinned dependencies (transformers, chromadb, …) must not meet autonom's.
$(OWUI)/.venv/.installed: $(OWUI)/requirements.txt
	$(PYTHON) -m venv $(OWUI)/.venv
	$(OWUI)/.venv/bin/python -m pip install --quiet --upgrade pip
	$(OWUI)/.venv/bin/python -m pip install --quiet -r $(OWUI)/requirements.txt
	touch $@

# The web UI's tests drive Debian's Chromium (headless) through Playwright.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

# The native engine build (and its test) compiles llama.cpp: cmake, make, a C/C++ compiler.
build-tools:
	@{ command -v cmake && command -v make && command -v c++; } >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  $$SUDO apt-get install -y -qq --no-install-recommends cmake make g++; }

# Optional: llama.cpp compiled for this CPU (see README, "A faster engine for this CPU").
native: install build-tools
	$(BIN)/autonom engine build

bench: install
	$(BIN)/python benchmarks/engine.py
