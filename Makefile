# The two commands a newcomer needs are `make run` and `make test`; both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The embedded SQLite store under ./var/, with the demo district loaded (loading twice changes nothing).
run: install
	$(BIN)/closedloop demo load
	$(BIN)/closedloop demo tokens
	$(BIN)/closedloop demo accounts
	$(BIN)/closedloop serve

# The whole suite. PostgreSQL tests run when 127.0.0.1:5432 answers; with
# CLOSEDLOOP_REQUIRE_POSTGRES=1 (as in CI) they fail instead of skipping.
test: install
	$(BIN)/python -m pytest -q

# The layers without I/O (ADR 0040): seconds, no server.
test-fast: install
	$(BIN)/python -m pytest -q tests/unit tests/property

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
