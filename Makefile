# ekmint — every command bootstraps .venv itself, so a fresh clone needs only Python 3.11+ and make.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs python3.13; prefer it for the venv and for `sam build`, fall back to python3 (3.11+).
# A pyenv shim for a version that is not selected exists but fails, so each candidate is run.
FIND_PY313 := for c in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13; do \
  "$$c" -c 'import sys;print(sys.executable)' 2>/dev/null && break; done
PY313 := $(shell $(FIND_PY313))
PYTHON ?= $(or $(PY313),$(shell command -v python3))
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY313_DIR := $(if $(PY313),$(dir $(PY313)),$(CURDIR)/$(BIN)/)
PYTEST_ARGS ?=

# The tests' and tools' default region below must not become a deploy's: `make deploy` runs
# without it unless the caller set AWS_DEFAULT_REGION (samconfig.toml's or the profile's wins).
REGION_FROM_CALLER := $(filter-out undefined,$(origin AWS_DEFAULT_REGION))
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_EC2_METADATA_DISABLED := true
export SAM_CLI_TELEMETRY := 0

.PHONY: help install dev test lint typecheck template-check security-check build deploy-tools deploy unit integration e2e load fuzz clean bench simulate

help:
	@echo "make dev    - run the local stack on http://127.0.0.1:$${PORT:-3000} (no AWS account needed)"
	@echo "make test   - the whole suite: lint, type check, template checks, unit, integration, e2e"
	@echo "make build  - sam build (arm64, python3.13) into .aws-sam/, with the SAM CLI alone (.venv-deploy)"
	@echo "make deploy - make build, then sam deploy with samconfig.toml (first time: docs/deploy.md)"
	@echo "make load   - 50 clients for 60 s against the local stack; prints latency, RSS, counts"
	@echo "make fuzz   - hypothesis and schemathesis with thousands of examples"
	@echo "make simulate - the quota path under DynamoDB's contention, 10 to 5,000 mints/s (docs/scaling.md)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v 'is ignored' || true
	@set -o pipefail; $(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,serverless-rules]' 2>&1 | { grep -v 'is ignored' || true; }
	@touch $@

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/ekmint dev

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Two checks, each doing what it says:
# 1. cfn-lint with AWS Labs' serverless rules (cfn-lint-serverless) added to its own. One finding
#    is suppressed where it arises, WS1004 on MintFunction: a false positive, the function logs to
#    MintLogGroup (with a retention) through LoggingConfig (template.yaml says so there).
#    `sam validate --lint` would be this same cfn-lint again, so it is not run.
# 2. sam validate: SAM's own transform of the template (samconfig.toml must not set lint = true,
#    which would turn it into cfn-lint again; tests/unit/test_template.py checks).
template-check: $(STAMP)
	$(BIN)/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(BIN)/sam validate --template template.yaml

# checkov lives in its own venv: its dependency pins clash with the SAM CLI's.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed:
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@set -o pipefail; $(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check 'checkov>=3.2' 2>&1 | { grep -v 'is ignored' || true; }
	@touch $@

security-check: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml

# Building and deploying need the SAM CLI and nothing else of .venv (Playwright, aiortc,
# schemathesis …): it lives in its own venv, as checkov does. Same version floor as in
# pyproject.toml's dev list.
DEPLOY_VENV := .venv-deploy
SAM := $(DEPLOY_VENV)/bin/sam
SAM_CLI_SPEC := aws-sam-cli>=1.130
DEPLOY_PY_DIR := $(if $(PY313),$(dir $(PY313)),$(CURDIR)/$(DEPLOY_VENV)/bin/)
$(DEPLOY_VENV)/.installed:
	@test -x $(DEPLOY_VENV)/bin/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	@set -o pipefail; $(DEPLOY_VENV)/bin/python -m pip install -q --disable-pip-version-check '$(SAM_CLI_SPEC)' 2>&1 | { grep -v 'is ignored' || true; }
	@touch $@

deploy-tools: $(DEPLOY_VENV)/.installed

build: $(DEPLOY_VENV)/.installed
	PATH="$(DEPLOY_PY_DIR):$(CURDIR)/$(DEPLOY_VENV)/bin:$$PATH" $(SAM) build --template template.yaml

# Later deploys; the first one is `.venv-deploy/bin/sam deploy --guided` (docs/deploy.md).
deploy: build
	$(if $(REGION_FROM_CALLER),,env -u AWS_DEFAULT_REGION )$(SAM) deploy

# Cold start, warm path, I/O and artifact size vs. a floor and a naive reference (docs/performance.md).
# A few minutes; BENCH_ARGS=--quick for a short run.
bench: $(STAMP)
	PATH="$(PY313_DIR):$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench $(BENCH_ARGS)

# A discrete-event simulation, no network: seconds. SIMULATE_ARGS=--rates 10,100 for fewer rows.
simulate: $(STAMP)
	$(BIN)/python -m bench.simulate $(SIMULATE_ARGS)

test: lint typecheck template-check security-check build
	$(BIN)/pytest $(PYTEST_ARGS)

# Long campaigns, not part of `make test`.
load: $(STAMP)
	$(BIN)/pytest tests/load -m load -s -q -p no:cacheprovider

# Output stays captured (so the secret scan sees it); the figures go to the terminal summary.
fuzz: $(STAMP)
	EKMINT_FUZZ_EXAMPLES=$${EKMINT_FUZZ_EXAMPLES:-2000} $(BIN)/pytest -q -p no:cacheprovider \
		--hypothesis-show-statistics tests/integration/test_hostile_input.py \
		tests/e2e/test_schemathesis.py

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
