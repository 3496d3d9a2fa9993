# The two commands of the README: `make run` and `make test`. Everything else is a step of them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Front-end assets the hub serves (Swagger UI): npm, from the committed lock file.
ASSETS := node_modules/.installed

.PHONY: run test install browser lint typecheck pytest services services-stop bench bench-celery clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(ASSETS): package.json package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(ASSETS)

install: $(STAMP) $(ASSETS)

# The browser tests (tests/web/browser/): Playwright drives Debian's Chromium, never a browser
# of its own; a CJK font so that the screenshots show the Chinese pages.
browser:
	@{ test -x /usr/bin/chromium && fc-list :lang=zh | grep -q .; } || \
		{ apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei; }

# Set up and run the hub with demo data at http://127.0.0.1:8000 (SQLite + embedded Redis
# under var/, sandbox channel, no credentials). The credit report's links are signed with
# HUB_LINK_SECRET from the environment; when it is unset (a demo), a secret generated once into
# var/link-secret (mode 0600) is exported instead. Production sets it in the environment.
LINK_SECRET_FILE := var/link-secret
run: install
	$(BIN)/hub db upgrade
	$(BIN)/hub demo
	@if [ -z "$$HUB_LINK_SECRET" ] && [ ! -s $(LINK_SECRET_FILE) ]; then \
		mkdir -p var && (umask 077 && $(BIN)/python -c \
			'import secrets; print(secrets.token_urlsafe(32))' > $(LINK_SECRET_FILE)); fi
	HUB_LINK_SECRET="$${HUB_LINK_SECRET:-$$(cat $(LINK_SECRET_FILE))}" $(BIN)/hub run

# Set up, start Redis 7, a Redis Cluster and PostgreSQL, install Chromium, lint, type-check and
# run the whole suite.
test: install services browser
	$(MAKE) --no-print-directory lint typecheck
	source var/test-services/env && $(BIN)/pytest -q

lint: install
	$(BIN)/ruff check hub channels tests benchmarks
	$(BIN)/ruff format --check hub channels tests benchmarks
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

services:
	scripts/test-services.sh start

services-stop:
	scripts/test-services.sh stop

bench: install
	$(BIN)/python benchmarks/import_registry.py --rows 100000

# The Celery peer (benchmarks/celery_baseline/): the optional `bench` group (Celery, requests) into
# the venv, then Celery one task per SMS, Celery 100 SMS per task and hub bench, N = 20,000 each
# (make bench-celery BENCH_ARGS="--n 2000 --json").
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

bench-celery: $(BENCH_STAMP)
	$(BIN)/python benchmarks/celery_baseline/run.py $(BENCH_ARGS)

clean:
	rm -rf var/hub.db* var/demo var/redis .pytest_cache .mypy_cache .ruff_cache
