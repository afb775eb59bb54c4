# One command surface. Every target sets up what it needs on a fresh clone (python3 >= 3.11 and node).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export UV_PROJECT_ENVIRONMENT := $(VENV)
# The dev venv writes no bytecode next to the sources; the Lambda layer ships its own (below).
export PYTHONDONTWRITEBYTECODE := 1
# The layer is compiled by a Python of the functions' runtime minor version (infra/topology.py, 3.13):
# scripts/build_layer.py looks in $LAMBDA_PYTHON, pyenv's versions, `uv python find`, then PATH, and stops
# with a message saying how to install it if none is there. `make layer LAMBDA_PYTHON=/path/python3.13`.
LAMBDA_PYTHON ?=
export LAMBDA_PYTHON

.PHONY: venv layer demo test bench lint synth pipeline clean chromium schema-gate release-baseline openapi

venv: $(VENV)/.synced
$(VENV)/.synced: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv sync --frozen --quiet
	@touch $@

# The Lambda layer: third-party packages built for the Lambda platform (arm64 wheels only) + shared/,
# with bytecode compiled by the runtime's Python.
layer: build/layer/.built
build/layer/.built: $(VENV)/.synced uv.lock scripts/build_layer.py infra/topology.py $(shell find shared -name '*.py')
	$(BIN)/python scripts/build_layer.py

demo: venv
	$(BIN)/o2c demo

test: venv layer chromium
	$(BIN)/pytest -q

# The console's browser test drives Debian's chromium (Playwright's own browser download is not used).
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

bench: venv layer
	$(BIN)/python -m bench.run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

synth: venv layer
	$(BIN)/python -m infra.app

# The public contract (event schemas, webhook routes) against the last release: a breaking change fails.
schema-gate: venv
	$(BIN)/python -m scripts.schema_gate

# The /v1 API's OpenAPI 3.1 document (api/openapi.json) from the resolver; commit it (tests/unit/test_openapi.py).
openapi: venv
	$(BIN)/python -m shared.api.openapi

# At release: today's contract becomes the baseline the gate compares with (commit events/released/).
release-baseline: venv
	$(BIN)/python -m scripts.schema_gate --record

# The deploy pipeline's stack and every stage it deploys (cdk.json → context.pipeline), cdk-nag on all.
pipeline: venv layer
	$(BIN)/python -m infra.pipeline

clean:
	rm -rf $(VENV) build cdk.out .o2c
