# Two commands do everything on a fresh machine:
#   make run    set up, build the index if missing or stale, serve chat page + REST on 127.0.0.1:8000
#   make test   set up, run the whole test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3.11
STAMP := $(VENV)/.rsiqa-installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export TORCHINDUCTOR_CACHE_DIR ?= $(CURDIR)/.tmp/torchinductor
export GRADIO_TEMP_DIR ?= $(CURDIR)/.tmp/gradio

.PHONY: install test-tools index run test test-fast eval clean help bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

install: $(STAMP)  ## create .venv with CPU torch and rsiqa (does nothing when current)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# CPU torch first: any other torch requirement would pull several GB of CUDA packages.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

test-tools:  ## install the Debian packages the tests use, when missing: chromium + chromium-driver, qemu-user
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v qemu-x86_64 >/dev/null || missing="$$missing qemu-user"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing with apt (browser tests; an emulated AVX2-only CPU)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

index: install  ## build the index when missing or stale
	$(VENV)/bin/rsiqa build --if-stale

run: install index  ## serve the chat page and REST API on http://127.0.0.1:8000
	$(VENV)/bin/rsiqa serve

test: install test-tools  ## run every test, slow ones included
	$(VENV)/bin/python -m pytest

test-fast: install  ## the tests that need no model, server or browser
	$(VENV)/bin/python -m pytest -m "not slow"

eval: index  ## retrieval and answer figures on every question set (development, validation, held out, blind)
	$(VENV)/bin/rsiqa eval ../shared/eval/questions.jsonl
	$(VENV)/bin/rsiqa eval ../shared/eval/styles.jsonl
	$(VENV)/bin/rsiqa eval eval/validation_questions.jsonl
	$(VENV)/bin/rsiqa eval eval/styles_validation.jsonl
	$(VENV)/bin/rsiqa eval eval/holdout_questions.jsonl
	$(VENV)/bin/rsiqa eval eval/styles_holdout.jsonl
	$(VENV)/bin/rsiqa eval eval/styles_blind.jsonl
	$(VENV)/bin/rsiqa eval --no-misses eval/styles_blind2.jsonl
	$(VENV)/bin/rsiqa eval --no-misses eval/styles_blind3.jsonl
	$(VENV)/bin/rsiqa eval eval/styles_blind4.jsonl
	$(VENV)/bin/rsiqa eval eval/styles_blind5.jsonl
	$(VENV)/bin/rsiqa eval --no-misses eval/styles_blind6.jsonl
	$(VENV)/bin/rsiqa eval --no-misses eval/styles_blind7.jsonl
	$(VENV)/bin/rsiqa eval --no-misses eval/styles_blind8.jsonl
	$(VENV)/bin/rsiqa eval --no-misses eval/styles_blind9.jsonl
	$(VENV)/bin/rsiqa eval --no-misses eval/styles_blind10.jsonl
	$(VENV)/bin/rsiqa eval eval/definitions.jsonl
	$(VENV)/bin/rsiqa eval eval/followups_dev.jsonl
	$(VENV)/bin/rsiqa eval eval/abstention_dev.jsonl
	$(VENV)/bin/rsiqa eval eval/abstention_check.jsonl
	$(VENV)/bin/rsiqa eval eval/followups_check.jsonl
	# follow-ups after rsiqa's own previous answer, as the chat page sends it
	$(VENV)/bin/rsiqa eval --chain ../shared/eval/styles.jsonl
	$(VENV)/bin/rsiqa eval --chain eval/styles_validation.jsonl
	$(VENV)/bin/rsiqa eval --chain eval/styles_holdout.jsonl
	$(VENV)/bin/rsiqa eval --chain eval/styles_blind.jsonl
	$(VENV)/bin/rsiqa eval --chain --no-misses eval/styles_blind2.jsonl
	$(VENV)/bin/rsiqa eval --chain --no-misses eval/styles_blind3.jsonl
	$(VENV)/bin/rsiqa eval --chain eval/styles_blind4.jsonl
	$(VENV)/bin/rsiqa eval --chain eval/styles_blind5.jsonl
	$(VENV)/bin/rsiqa eval --chain --no-misses eval/styles_blind6.jsonl
	$(VENV)/bin/rsiqa eval --chain --no-misses eval/styles_blind7.jsonl
	$(VENV)/bin/rsiqa eval --chain --no-misses eval/styles_blind8.jsonl
	$(VENV)/bin/rsiqa eval --chain --no-misses eval/styles_blind9.jsonl
	$(VENV)/bin/rsiqa eval --chain --no-misses eval/styles_blind10.jsonl
	$(VENV)/bin/rsiqa eval --chain eval/followups_dev.jsonl
	$(VENV)/bin/rsiqa eval --chain eval/abstention_dev.jsonl
	$(VENV)/bin/rsiqa eval --chain eval/abstention_check.jsonl
	$(VENV)/bin/rsiqa eval --chain eval/followups_check.jsonl

clean:  ## remove the environment and the built index
	rm -rf $(VENV) .tmp index/*.faiss index/*.json index/*.jsonl index/*.npy

bench: install  ## performance figures of docs/performance.md (about 10 min; python benchmarks/run.py --quick: 2 min)
	$(PY) benchmarks/run.py
