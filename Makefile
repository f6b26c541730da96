# Kesu 客诉 — the two commands: `make demo` and `make test` (+ `make bench`). `make help` lists the rest.
# GNU make; Debian 12 with python3.11, node/npm; PostgreSQL 15 binaries for the PG stage.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MANAGE := $(PY) manage.py
INSTALL_STAMP := $(VENV)/.kesu-installed
# The demo needs the project and its runtime dependencies only; tests and benchmarks add the dev tools.
APP_STAMP := $(VENV)/.kesu-app-installed
ASSETS_STAMP := node_modules/.kesu-assets
HOST ?= 127.0.0.1
PORT ?= 8000
# The demo company is an insurer (insurance preset, which extends the general rules).
DEMO_PRESET ?= insurance
DEMO_CASES ?=
# `make demo` serves once this many complaints (a sample spread over the year) are loaded; the task
# worker that `kesu serve` starts loads the rest in the background. 0 or empty: load everything first.
DEMO_FIRST ?= 300
# Extra selection for the pytest stages, e.g. `make test PYTEST_ARGS="tests/cases -k grading"`.
PYTEST_ARGS ?=
# `make bench BENCH_SCALE=small` for a quick check; default: the sizes the issues state.
BENCH_SCALE ?= full
BENCH_ONLY ?=

export VENV PYTEST_ARGS BENCH_SCALE BENCH_ONLY

.PHONY: help venv install install-app assets migrate demo demo-data serve worker test test-lint test-sqlite test-pg \
        test-browser browser-deps lint format bench bench-sqlite bench-speed clean distclean

help:
	@echo "Kesu 客诉 — make targets"
	@echo "  make demo         install, build assets, migrate, load demo data, serve at http://$(HOST):$(PORT)"
	@echo "                   (serves after $(DEMO_FIRST) complaints; the worker loads the rest in the background)"
	@echo "  make test         ruff + tests on SQLite + tests on a throwaway PostgreSQL 15 + browser tests"
	@echo "  make bench        benchmarks (SQLite and PostgreSQL) → bench/results/*.json  [BENCH_SCALE=small]"
	@echo "  make bench-speed  issue 19's figures beside their goals → bench/results/speed19.json"
	@echo "  make install      .venv with the project (editable) and its dev/pg extras"
	@echo "  make install-app  .venv with the project (editable) and its pg extra only (what make demo needs)"
	@echo "  make assets       npm packages → kesu/web/static/vendor/"
	@echo "  make migrate      apply migrations to the configured database (KESU_DATABASE_URL)"
	@echo "  make demo-data    load the demo company and all its complaints before returning (idempotent)"
	@echo "  make serve        run the web server and the task worker"
	@echo "  make test-sqlite | test-pg | test-browser | lint | format | clean | distclean"

# --- set-up -----------------------------------------------------------------------------------------

$(PY):
	$(PYTHON) -m venv $(VENV)

venv: $(PY)

$(INSTALL_STAMP): pyproject.toml | $(PY)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev,pg]'
	@touch $@ $(APP_STAMP)

# No pip upgrade and no byte-compiling of every installed module (scipy, scikit-learn …): the modules
# the server imports are compiled when first imported. About half the CPU of the full install (issue 19).
$(APP_STAMP): pyproject.toml | $(PY)
	$(PIP) install -q --no-compile -e '.[pg]'
	@touch $@

install: $(INSTALL_STAMP)

install-app: $(APP_STAMP)

assets:
	@if [ ! -f package.json ]; then echo "assets: no package.json yet — nothing to build"; exit 0; fi; \
	if ! command -v npm >/dev/null 2>&1; then echo "assets: npm is needed (apt-get install npm)" >&2; exit 1; fi; \
	lock=package.json; [ -f package-lock.json ] && lock=package-lock.json; \
	if [ ! -f $(ASSETS_STAMP) ] || [ $$lock -nt $(ASSETS_STAMP) ] || [ package.json -nt $(ASSETS_STAMP) ]; then \
		if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi \
		&& mkdir -p node_modules && touch $(ASSETS_STAMP); \
	else echo "assets: node_modules up to date"; fi; \
	if [ -f scripts/vendor_assets.sh ]; then bash scripts/vendor_assets.sh; fi

# The system checks run once on the demo's way, when the server starts (runserver checks); not again
# before migrating and loading (about 2.5 CPU s each).
migrate: install-app
	$(MANAGE) migrate --no-input -v 1 --skip-checks

# --- demo -------------------------------------------------------------------------------------------

demo-data: migrate
	$(MANAGE) demo_data --skip-checks --preset $(DEMO_PRESET) $(if $(DEMO_CASES),--cases $(DEMO_CASES))

demo: install-app assets migrate
	$(MANAGE) demo_data --skip-checks --preset $(DEMO_PRESET) $(if $(DEMO_CASES),--cases $(DEMO_CASES)) \
		$(if $(filter-out 0,$(DEMO_FIRST)),--first $(DEMO_FIRST))
	$(MANAGE) serve --host $(HOST) --port $(PORT)

serve: install-app
	$(MANAGE) serve --host $(HOST) --port $(PORT)

worker: install-app
	$(MANAGE) worker

# --- tests ------------------------------------------------------------------------------------------

test: install assets
	scripts/run_tests.sh lint sqlite postgresql browser

test-lint: install
	scripts/run_tests.sh lint

test-sqlite: install
	scripts/run_tests.sh sqlite

test-pg: install
	scripts/run_tests.sh postgresql

test-browser: install assets
	scripts/run_tests.sh browser

browser-deps: install
	scripts/browser_deps.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# --- benchmarks -------------------------------------------------------------------------------------

bench: install
	PG_OPTIONAL=1 scripts/pg_cluster.sh $(PY) bench/run_all.py

bench-sqlite: install
	$(PY) bench/run_all.py --db sqlite

# Issue 19's figures only (create, batch, perform, queues, case page, board, analytics, sweep, load check)
# beside their goals on both databases → bench/results/speed19.json; `bench/speed19.py --readme` prints
# the README table. About 25 min at 100k on this loaded 2-core host (BENCH_SCALE=small: a few minutes).
bench-speed: install
	PG_OPTIONAL=1 scripts/pg_cluster.sh $(PY) bench/speed19.py --load

# --- cleaning ---------------------------------------------------------------------------------------

clean:
	rm -rf var/bench var/test.sqlite3* build dist *.egg-info .pytest_cache .hypothesis bench/results/*.tmp
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) node_modules kesu/web/static/vendor .ruff_cache
