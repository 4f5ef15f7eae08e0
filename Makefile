# The embedded stack and its checks. Every target installs what it needs first
# (fast when already installed): uv, then the locked environment in .venv.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := run

PYTHON ?= python3
VENV := .venv
ARGS ?=

export UV_PYTHON_DOWNLOADS := never

.PHONY: install run infra test lint audit reset bench schemas docs backup restore browser staff \
	rotate-master-key

## install: uv if missing, then `uv sync --frozen` (PostgreSQL is handled by devstack)
install:
	@if command -v uv >/dev/null 2>&1; then uv=uv; else \
	  if ! $(PYTHON) -m uv --version >/dev/null 2>&1; then \
	    $(PYTHON) -m pip install --quiet uv 2>/dev/null \
	      || $(PYTHON) -m pip install --quiet --user --break-system-packages uv; \
	  fi; \
	  uv="$(PYTHON) -m uv"; \
	fi; \
	$$uv sync --frozen --quiet

## run: the whole platform in the foreground until Ctrl-C (gateway on :8000)
run: install
	exec $(VENV)/bin/python -m devstack run

## infra: PostgreSQL, the broker and topics only, in the foreground
infra: install
	exec $(VENV)/bin/python -m devstack infra

MYPY_PATHS := contracts/src kernel/src devstack/src $(wildcard services/*/src)

## browser: Debian's chromium and chromium-driver for the dashboard's test (apt-get, as root)
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium chromium-driver; \
	  else echo "chromium and chromium-driver are missing: apt-get install them" >&2; fi; \
	fi

## test: the static checks (lint), then every test against a real PostgreSQL and broker
test: lint browser
	$(VENV)/bin/python -m pytest $(ARGS)

## lint: ruff, mypy --strict and the import contracts (a service never imports another)
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(MYPY_PATHS)
	$(VENV)/bin/lint-imports

## audit: the retention auditor, e.g. make audit ARGS="--help"
audit: install
	@$(VENV)/bin/marketplace-audit $(ARGS)

## staff: staff roles from the shell, e.g. make staff ARGS="grant --email a@b.nl --role dpo"
## (also revoke, list); reads .stack/secrets.env as audit does
staff: install
	@$(VENV)/bin/marketplace-staff $(ARGS)

## rotate-master-key: a new master key, every wrapped key rewrapped while make run serves,
## the old key retired from .stack/secrets.env (run again to resume an interrupted one)
rotate-master-key: install
	@$(VENV)/bin/python -m devstack rotate-master-key $(ARGS)

## bench: every benchmark of bench/, each figure beside its target (TARGETS.md)
bench: install
	@if command -v uv >/dev/null 2>&1; then uv sync --frozen --quiet --group bench; \
	  else $(PYTHON) -m uv sync --frozen --quiet --group bench; fi
	$(VENV)/bin/python -m bench $(ARGS)

## schemas: renew the JSON Schema files of every event (contracts/schemas/)
schemas: install
	rm -f contracts/schemas/*.json
	$(VENV)/bin/python -m contracts.schemas contracts/schemas

## docs: renew the settings reference (docs/settings.md) from the settings classes
docs: install
	$(VENV)/bin/python -m devstack.settings_doc docs/settings.md

## backup: dump PostgreSQL (key store included) and the root secrets of the running stack
backup: install
	$(VENV)/bin/python -m devstack backup $(ARGS)

## restore: put a backup back (newest unless ARGS names one), make run stopped; erasures
## journalled since the backup are applied again before /readyz answers 200
restore: install
	$(VENV)/bin/python -m devstack restore $(ARGS)

## reset: forget the embedded stack's data (PostgreSQL cluster, Kafka log, root secrets)
reset:
	rm -rf .stack
