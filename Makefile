# Every target installs what it needs into ./.venv (created on first use, reused after).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install system-deps demo test test-fast lint ui webserver daemon bench clean

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# OpenSSH sshd (SFTP tests against a real server) and Chromium (report rendering test).
# Needs root and apt; skipped with a note elsewhere (tests that need them then fail in CI, skip locally).
system-deps:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  need=""; \
	  command -v /usr/sbin/sshd >/dev/null || need="$$need openssh-server"; \
	  command -v sftp >/dev/null || need="$$need openssh-client"; \
	  command -v chromium >/dev/null || need="$$need chromium"; \
	  if [ -n "$$need" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; fi; \
	else echo "system-deps: not root or no apt-get; install openssh-server and chromium yourself"; fi

demo: $(STAMP)
	$(BIN)/eur-pipeline demo --dir ./demo

test: $(STAMP) system-deps
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check eur_pipeline eur_pipeline_tests bench
	$(BIN)/ruff format --check eur_pipeline eur_pipeline_tests bench

# Development UI on a persistent SQLite home (./dagster_home, git-ignored) with the warehouse pool
# limit; deploy/dagster.yaml (PostgreSQL) is for the production services below.
ui: $(STAMP)
	@mkdir -p dagster_home && printf 'concurrency:\n  pools:\n    default_limit: 1\n' > dagster_home/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/dagster_home $(BIN)/dagster dev

# Production services: DAGSTER_HOME holds a copy of deploy/dagster.yaml; DAGSTER_PG_* and EUR_CONFIG set.
webserver: $(STAMP)
	@test -n "$$DAGSTER_HOME" || { echo "set DAGSTER_HOME to a folder holding a copy of deploy/dagster.yaml"; exit 1; }
	$(BIN)/dagster-webserver -h $${DAGSTER_WEBSERVER_HOST:-127.0.0.1} -p $${DAGSTER_WEBSERVER_PORT:-3000} -w workspace.yaml

daemon: $(STAMP)
	@test -n "$$DAGSTER_HOME" || { echo "set DAGSTER_HOME to a folder holding a copy of deploy/dagster.yaml"; exit 1; }
	$(BIN)/dagster-daemon run -w workspace.yaml

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) demo .pytest_cache
