# Every target installs what it needs into ./.venv (created on first use, reused after).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install system-deps demo test test-fast lint ui ui-demo webserver daemon bench clean

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
# limit; deploy/dagster.yaml (PostgreSQL) is for the production services below. `make ui` uses
# ./eur.yaml (drop archives into ./data/incoming); `make ui-demo` browses the warehouse `make demo` built.
UI_PORT ?= 3000
define dagster_ui
	@mkdir -p $(1) && printf 'concurrency:\n  pools:\n    default_limit: 1\ntelemetry:\n  enabled: false\n' > $(1)/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/$(1) EUR_CONFIG=$(2) $(BIN)/dagster dev -h 127.0.0.1 -p $(UI_PORT)
endef

ui: $(STAMP)
	@mkdir -p data/incoming
	$(call dagster_ui,dagster_home,$(CURDIR)/eur.yaml)

ui-demo: $(STAMP)
	@test -f demo/eur.yaml || { echo "no demo yet: run 'make demo' first"; exit 2; }
	$(call dagster_ui,demo/dagster_home,$(CURDIR)/demo/eur.yaml)

# Production services: DAGSTER_HOME holds a copy of deploy/dagster.yaml; DAGSTER_PG_* and EUR_CONFIG set.
webserver: $(STAMP)
	@test -n "$$DAGSTER_HOME" || { echo "set DAGSTER_HOME to a folder holding a copy of deploy/dagster.yaml"; exit 1; }
	$(BIN)/dagster-webserver -h $${DAGSTER_WEBSERVER_HOST:-127.0.0.1} -p $${DAGSTER_WEBSERVER_PORT:-3000} -w workspace.yaml

daemon: $(STAMP)
	@test -n "$$DAGSTER_HOME" || { echo "set DAGSTER_HOME to a folder holding a copy of deploy/dagster.yaml"; exit 1; }
	$(BIN)/dagster-daemon run -w workspace.yaml

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.database_source
	$(BIN)/python -m bench.sensor_tick
	$(BIN)/python -m bench.sftp_collect

clean:
	rm -rf $(VENV) demo .pytest_cache
