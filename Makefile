# The project's two commands are `make demo` and `make test`; everything they need is set up here.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
PY313 = $(shell scripts/find-python313)
# The deploy tools (doctor, image, push) run with your own PATH and region settings, not with the
# virtualenv first and the offline tools' default region set below.
USER_PATH := $(PATH)
# sam build resolves `python3.13` on PATH: the virtualenv's bin has it.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

FUNCTIONS_SRC := $(shell find functions -type f \( -name '*.py' -o -name requirements.txt \) 2>/dev/null)
# Nested templates template.yaml instantiates (one per compute platform's service kind).
NESTED_TEMPLATES := $(sort $(wildcard compute/*.yaml))

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.stamp: requirements-dev.txt app/requirements.in scripts/find-python313
	@py="$$(scripts/find-python313)"; \
	if [ ! -x $(BIN)/python ] || ! $(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then \
	  rm -rf $(VENV); "$$py" -m venv $(VENV); fi
	$(BIN)/python -m pip install -qq --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -qq --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(CHECKOV_VENV)/.stamp: requirements-checkov.txt
	@py="$$(command -v python3.11 || command -v python3)"; \
	[ -x $(CHECKOV_VENV)/bin/python ] || "$$py" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -qq --disable-pip-version-check -r requirements-checkov.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## Create .venv with the pinned development tools

.PHONY: pins
pins: venv ## Refresh the pins: app/requirements.txt (hashes), the base image's digest, the bench's plotting env
	$(BIN)/uv pip compile app/requirements.in --generate-hashes --universal --python-version 3.13 \
	  --no-emit-index-url --no-emit-find-links --custom-compile-command "make pins" \
	  --quiet -o app/requirements.txt
	$(BIN)/uv pip compile bench/requirements-plots.in --generate-hashes --universal --python-version 3.13 \
	  --no-emit-index-url --no-emit-find-links --custom-compile-command "make pins" \
	  --quiet -o bench/requirements-plots.txt
	scripts/pin-base-image

.PHONY: rds-ca-bundle
rds-ca-bundle: venv ## Refresh app/certs/rds-global-bundle.pem and its SHA-256 in app/Dockerfile (SOURCE=aws|npm)
	$(BIN)/python scripts/rds_ca_bundle.py --source $(or $(SOURCE),aws)

.PHONY: postgres
postgres: ## Make sure PostgreSQL server binaries are installed (Debian: apt-get install postgresql)
	@scripts/ensure-postgres

.PHONY: lint
lint: venv ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: typecheck
typecheck: venv ## mypy --strict on functions/ and app/ (and the deploy tools)
	$(BIN)/mypy $$(scripts/mypy-targets)
	$(BIN)/mypy scripts/deploy_tools.py scripts/template_reference.py

.PHONY: cfn-lint
cfn-lint: venv ## cfn-lint at every level, with the serverless rules (nested templates included)
	$(BIN)/cfn-lint --include-checks I -- template.yaml $(NESTED_TEMPLATES)

.PHONY: validate
validate: venv ## sam validate --lint (nested templates included)
	@for t in template.yaml $(NESTED_TEMPLATES); do \
	  $(BIN)/sam validate --lint --template "$$t" --region $(AWS_DEFAULT_REGION); done

# After sam build: the functions' and the layer's bytecode beside their sources, so a cold start
# loads their modules instead of compiling them (about 10 ms a function; docs/performance.md).
# checked-hash: Python uses a .pyc only while it matches its source, whoever rebuilt the source.
.aws-sam/build/template.yaml: template.yaml $(NESTED_TEMPLATES) $(FUNCTIONS_SRC) $(VENV)/.stamp
	$(BIN)/sam build --template template.yaml --region $(AWS_DEFAULT_REGION)
	$(BIN)/python -m compileall -q -f --invalidation-mode checked-hash \
	  $$(find .aws-sam/build -mindepth 1 -maxdepth 1 -type d)
	touch $@

.PHONY: build
build: .aws-sam/build/template.yaml ## sam build and the functions' bytecode (needs python3.13 on PATH; the virtualenv provides it)

.PHONY: checkov
checkov: $(CHECKOV_VENV)/.stamp ## checkov on template.yaml and its nested templates (own virtualenv: it pins an old boto3)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation \
	  -f template.yaml $(addprefix -f ,$(NESTED_TEMPLATES))

.PHONY: pytest
pytest: venv build postgres ## pytest (unit, template, functions, app and end-to-end tests)
	$(BIN)/pytest

.PHONY: test
test: lint typecheck cfn-lint validate build checkov pytest ## Every check: what CI runs

.PHONY: demo
demo: venv build postgres ## Run the whole system locally (ARGS="--keep", "--platform ecs-express")
	$(BIN)/python -m harness.demo $(ARGS)

.PHONY: bench
bench: venv build postgres ## Benchmarks: job endpoint vs its floors, custom-resource cold start
	$(BIN)/python -m bench $(ARGS)

# ---------------------------------------------------------------- the AWS deploy path (docs/deploy.md)
REPOSITORY ?= bookapp
VERSION ?=
PLATFORM ?= linux/amd64
CONTAINER_ENGINE ?=
REGION ?=
DRY_RUN ?=
DEPLOY_TOOLS = env $(if $(filter file,$(origin AWS_DEFAULT_REGION)),-u AWS_DEFAULT_REGION) \
  PATH="$(USER_PATH)" scripts/deploy_tools.py
BUILD_ARGS = --repository="$(REPOSITORY)" --tag="$(VERSION)" --platform="$(PLATFORM)" \
  --engine="$(CONTAINER_ENGINE)" $(if $(filter 1 true yes,$(DRY_RUN)),--dry-run)

.PHONY: doctor
doctor: ## Check what the AWS deploy path needs (AWS CLI v2, credentials, region, Docker/Podman, sam, python3.13)
	@$(DEPLOY_TOOLS) doctor --engine="$(CONTAINER_ENGINE)"

.PHONY: image
image: ## Build app/Dockerfile with Docker or Podman, tagged VERSION (default: git describe); DRY_RUN=1 prints
	@$(DEPLOY_TOOLS) image $(BUILD_ARGS)

.PHONY: push
push: ## Build and push to ECR in your account and region (repository created if absent); prints the ImageUri
	@$(DEPLOY_TOOLS) push $(BUILD_ARGS) --region="$(REGION)"

.PHONY: docs
docs: venv ## Regenerate docs/parameters.md from template.yaml
	$(BIN)/python scripts/template_reference.py

.PHONY: clean
clean: ## Remove build output and virtualenvs
	rm -rf .aws-sam $(VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache .pytest_cache
