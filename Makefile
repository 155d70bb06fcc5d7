# shopmail: every target bootstraps what it needs on a fresh machine (Python + make).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30
# sam build needs the Lambda runtime's Python (3.13) on PATH; pyenv provides it on these machines.
PY313 ?= $(shell pyenv prefix 3.13.0 2>/dev/null || pyenv prefix 3.13 2>/dev/null)
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint unit build bench fuzz clean venv sam-venv checkov-venv checkov
.PHONY: system-deps faults

venv: $(VENV)/.stamp
$(VENV)/.stamp: requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

sam-venv: $(SAM_VENV)/.stamp
$(SAM_VENV)/.stamp:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --upgrade pip
	$(SAM_VENV)/bin/pip install -q aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

# checkov pins its own boto3/pydantic: it gets its own venv like SAM CLI.
checkov-venv: $(CHECKOV_VENV)/.stamp
$(CHECKOV_VENV)/.stamp:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)
	touch $@

## checkov: security scan of template.yaml (accepted findings justified in .checkov.yaml)
checkov: checkov-venv
	$(CHECKOV) --skip-download -f template.yaml --framework cloudformation --config-file .checkov.yaml

## run: the whole system offline (moto server, SES emulators, web inbox)
run: venv
	$(VENV)/bin/shopmail run

## test: lint, type-check, every test, and sam validate --lint
test: lint system-deps
	$(PY) -m pytest

lint: venv sam-venv checkov-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(SAM) validate --lint --region eu-west-1
	$(CHECKOV) --skip-download -f template.yaml --framework cloudformation --config-file .checkov.yaml

# Real-client tests need swaks (SMTP) and Debian's chromium + chromedriver (browser tests).
# Installed with apt when missing (as root, e.g. in CI); idempotent: nothing runs if present.
SYSTEM_DEPS := swaks libio-socket-ssl-perl chromium chromium-driver
system-deps:
	@if command -v swaks >/dev/null && command -v chromium >/dev/null \
	    && command -v chromedriver >/dev/null && perl -MIO::Socket::SSL -e1 2>/dev/null; then \
	  echo "system-deps: swaks (with TLS), chromium, chromedriver present"; \
	else \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends \
	    $(SYSTEM_DEPS); \
	fi

## build: sam build (layer with .pyc files for python3.13 / arm64)
build: sam-venv
	PATH="$(PY313)/bin:$$PATH" $(SAM) build

## bench: performance ratios against in-process baselines
bench: venv
	$(PY) -m bench

## faults: the fault harness: 1,000 shop events + 1,000 inbound mails under injected faults
FAULTS_ARGS ?= --events 1000 --mails 1000 --profile chaos --seed 1
faults: venv
	nice $(PY) -m bench.faults $(FAULTS_ARGS)

## fuzz: 100,000 mutated corpus mails through the whole inbound pipeline (0 crashes expected)
FUZZ_CASES ?= 100000
FUZZ_SEED ?= 1
FUZZ_WORKERS ?= 2
fuzz: venv
	nice $(PY) -m bench.fuzz_inbound --cases $(FUZZ_CASES) --seed $(FUZZ_SEED) \
	  --workers $(FUZZ_WORKERS) --out .bench/fuzz_inbound.json

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache
