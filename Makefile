# Dalil: `make run` to try it, `make test` before a change goes in.
# Everything runs inside .venv, created on first use; no system package is touched.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DALIL  := $(BIN)/dalil
HOST   ?= 127.0.0.1
PORT   ?= 8000
# pytest -n: parallel workers (pytest-xdist); `make test PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= 2

.PHONY: run serve demo worker install install-test test lint typecheck layers pytest \
        pytest-postgres messages clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

## run: install, migrate, seed the demo academy (prints the logins), serve with a job worker
run: install
	$(DALIL) manage migrate --no-input -v 0
	$(DALIL) demo --port $(PORT)
	$(DALIL) serve --host $(HOST) --port $(PORT)

serve: install
	$(DALIL) serve --host $(HOST) --port $(PORT)

demo: install
	$(DALIL) demo --port $(PORT)

worker: install
	$(DALIL) worker

## test: lint, types, import layers, then the suite on SQLite (and PostgreSQL if configured)
test: install-test lint typecheck layers pytest pytest-postgres

lint: install-test
	$(BIN)/ruff check src tests

typecheck: install-test
	$(BIN)/mypy src

layers: install-test
	$(BIN)/lint-imports

pytest: install-test
	env -u DALIL_TEST_DATABASE_URL $(BIN)/pytest -n $(PYTEST_WORKERS)

# Runs only when DALIL_TEST_DATABASE_URL names a PostgreSQL server (.ci/run sets it).
pytest-postgres: install-test
	@if [ -n "$$DALIL_TEST_DATABASE_URL" ]; then \
	  echo "pytest on PostgreSQL ($$DALIL_TEST_DATABASE_URL)"; \
	  $(BIN)/pytest -n $(PYTEST_WORKERS); \
	else \
	  echo "pytest on PostgreSQL skipped: DALIL_TEST_DATABASE_URL is not set"; \
	fi

## messages: refresh the translation catalogs from the sources and compile them
messages: install
	cd src/dalil/app && ../../../$(BIN)/django-admin makemessages --settings dalil.app.settings \
	  -l ru -l kk -l ky -l tg -l tk -l uz --no-obsolete
	cd src/dalil/app && ../../../$(BIN)/django-admin compilemessages --settings dalil.app.settings

clean-venv:
	rm -rf $(VENV)
