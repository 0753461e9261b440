# Two commands on a fresh machine: `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# The virtualenv (about 3.5 GB with vLLM) and the prepared model live outside the checkout
# so a fresh clone reuses them. A new engine pin means a new venv; a change to the other
# requirement files installs into the existing one (its stamp names every file's hash).
CACHE_DIR ?= $(HOME)/.cache/llmchat
ENGINE_HASH := $(shell cat requirements/engine-cpu.txt | sha256sum | cut -c1-12)
REQ_HASH := $(shell cat requirements/*.txt | sha256sum | cut -c1-12)
VENV ?= $(CACHE_DIR)/venv-$(ENGINE_HASH)
STAMP := $(VENV)/.installed-$(REQ_HASH)
# The project itself is installed editable (imports need no PYTHONPATH); its stamp names
# this checkout and pyproject.toml, so another clone sharing the venv re-points it.
PROJECT_STAMP := $(VENV)/.project-$(shell echo $(CURDIR) | cat - pyproject.toml | sha256sum | cut -c1-12)
PY := $(VENV)/bin/python

export DATA_DIR ?= $(CURDIR)/.data
export MODEL_CACHE_DIR ?= $(CACHE_DIR)/models
# Nothing may be downloaded at run time: models come from PyPI packages.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export VLLM_NO_USAGE_STATS := 1
export DO_NOT_TRACK := 1

# The web app is rebuilt when a file under frontend/ (but its outputs) changed; its
# packages are reinstalled when package-lock.json did. node and npm come from Debian.
WEB_FILES := $(shell find frontend -path frontend/node_modules -prune -o -path frontend/dist -prune -o -path frontend/test-results -prune -o -path frontend/e2e -prune -o -path frontend/bench -prune -o -type f -print 2>/dev/null | LC_ALL=C sort)
WEB_HASH := $(shell cat $(WEB_FILES) /dev/null | sha256sum | cut -c1-12)
LOCK_HASH := $(shell cat frontend/package-lock.json 2>/dev/null | sha256sum | cut -c1-12)
WEB_DEPS := frontend/node_modules/.installed-$(LOCK_HASH)
WEB_BUILD := frontend/dist/.built-$(WEB_HASH)
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo )apt-get

.PHONY: help env model run token test test-fast lint bench bench-capacity bench-vllm-server bench-web clean node web web-deps web-dev web-test browser-deps asyncapi

help:
	@echo "make run    start nats-server, an inference worker (vLLM CPU) and the api"
	@echo "make token  print a development admin token (last line)"
	@echo "make test   install what is needed and run every test (unit, integration, e2e)"
	@echo "make bench  platform vs direct engine: TTFT, tokens/s, requests/min"
	@echo "make bench-capacity  one api process, scripted workers: 250 -> 4,000 concurrent streams"
	@echo "make bench-vllm-server  the platform's /v1 against vLLM's own OpenAI server, same engine"
	@echo "make bench-web  the web app in Chromium: first paint, long tasks while streaming, scrolling"
	@echo "make lint   ruff + mypy + eslint / tsc of the web app"
	@echo "make asyncapi  write docs/asyncapi/: what each service subscribes to and publishes, with payloads"
	@echo "make web    build the web app (frontend/dist, served by the api at /)"
	@echo "make web-dev  Vite's dev server on :5173, proxying to a running api (API_PORT, 8080)"

env: $(STAMP) $(PROJECT_STAMP)

$(STAMP): requirements/base.txt requirements/engine-cpu.txt requirements/dev.txt
	@test -x $(VENV)/bin/python || { \
	  echo ">> creating $(VENV) (first time only: a few minutes, about 3.5 GB)"; \
	  $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -r requirements/engine-cpu.txt -r requirements/base.txt -r requirements/dev.txt
	$(VENV)/bin/pip uninstall -y torchvision torchaudio torchcodec
	touch $@

$(PROJECT_STAMP): $(STAMP) pyproject.toml
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.project-*
	touch $@

model: env
	$(PY) -m inference_worker.model_prep

run: env model web
	$(PY) -m local_stack

node:
	@command -v npm >/dev/null || { \
	  echo ">> installing node and npm from Debian"; \
	  $(APT_GET) update -q && $(APT_GET) install -y -q nodejs npm; }

web-deps: node $(WEB_DEPS)

$(WEB_DEPS): frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

web: web-deps $(WEB_BUILD)

$(WEB_BUILD):
	cd frontend && npm run build
	touch $@

web-dev: web-deps
	cd frontend && npm run dev

web-test: web-deps
	cd frontend && npm test

# Browser tests drive Debian's Chromium (no browser can be downloaded here) with
# playwright-core; fonts-nanum draws the Korean screens.
browser-deps:
	@test -x /usr/bin/chromium && fc-list 2>/dev/null | grep -qi nanum || { \
	  echo ">> installing chromium and fonts-nanum from Debian"; \
	  $(APT_GET) update -q && $(APT_GET) install -y -q chromium fonts-nanum; }

token: env
	@$(PY) -m chat_api.auth.dev_token

test: env model web web-test browser-deps
	$(PY) -m pytest

test-fast: env
	$(PY) -m pytest -m "not vllm and not browser"

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy contracts libs services deploy tools tests
	$(MAKE) --no-print-directory web-deps
	cd frontend && npm run lint

bench: env model
	$(PY) -m bench

# name=module:function of each documented service broker or RpcServer (tests/llmchat_bus/test_asyncapi.py reads it)
ASYNCAPI_SERVICES := persistence=persistence.subscribers.rpc:described metering=metering.subscribers.rpc:described model_admin=model_admin.app:described api=chat_api.gateway:described inference_worker=inference_worker.app:described

asyncapi: env
	$(PY) -m llmchat_bus.asyncapi docs/asyncapi $(ASYNCAPI_SERVICES)

bench-capacity: env
	$(PY) -m bench.capacity

bench-vllm-server: env model
	$(PY) -m bench.vllm_server

bench-web: env web browser-deps
	$(PY) -m bench.web_app

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache frontend/dist frontend/node_modules
