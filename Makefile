# The only entry points people and CI need. `make up` and `make test` are the README's quick start.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The monolith's pytest-django suite runs on real PostgreSQL (it creates a fresh test_ database).
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/strangler
# Test processes (pytest-xdist). Most tests wait on processes they start (servers, workers, the
# broker), so a process per core pays. A file stays on one process (--dist loadfile): module
# fixtures start their servers once. Files with slow tests are handed out first
# (tests/conftest.py), so no long file starts when the other processes are nearly done.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile

.PHONY: install up test test-fast check lint format bench clean openapi

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Bring the whole stack up on the embedded default (SQLite + filesystem broker). Ctrl-C stops it.
up: install
	$(BIN)/strangler up

## The whole test suite on real PostgreSQL and Redis (started if they are not running) and a
## headless Chromium, nginx and LuaJIT for the tests that drive them (from Debian if missing).
test: install
	bash scripts/services.sh
	bash scripts/test_tools.sh
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest $(PYTEST_PARALLEL)

## Everything except the slow end-to-end walk.
test-fast: install
	bash scripts/services.sh
	bash scripts/test_tools.sh
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow"

check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Regenerate the checked-in OpenAPI contract from the monolith's views (tests fail on drift).
openapi: install
	$(BIN)/python monolith/manage.py spectacular --validate --fail-on-warn --file contracts/openapi.yaml

bench: install
	@command -v wrk >/dev/null || { echo "make bench: needs wrk (Debian: apt-get install wrk)" >&2; exit 1; }
	$(BIN)/python -m bench.proxy_overhead
	$(BIN)/python -m bench.monolith_throughput

clean:
	rm -rf var build *.egg-info .mypy_cache .ruff_cache .pytest_cache
