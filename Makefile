# teampulse: `make run` to try it, `make test` to test it.  Both create .venv on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the Adaptive Card checker the Teams card tests run (Node.js: Microsoft's own card library)
CARD_CHECK := tests/adaptive_cards
CARD_STAMP := $(CARD_CHECK)/node_modules/.installed

.PHONY: run test lint typecheck check bench clean lock

# Installs exactly the locked versions (requirements-dev.txt, hash-checked), then the project
# itself without dependencies.  The image installs requirements.txt the same way.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Re-pin after editing pyproject.toml's dependencies.  Existing pins are kept; to move them:
# `make lock LOCK_ARGS=--upgrade` (all) or `LOCK_ARGS='--upgrade-package aiohttp'` (one).
# The dev lock is constrained by the runtime one, so both hold the same versions.
LOCK := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

lock: $(STAMP)
	$(LOCK) --output-file requirements.txt pyproject.toml
	$(LOCK) --extra dev --constraint requirements.txt --output-file requirements-dev.txt pyproject.toml

run: $(STAMP)
	$(BIN)/teampulse serve

$(CARD_STAMP): $(CARD_CHECK)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "Node.js 20 and npm are needed (the Teams card tests)"; exit 1; }
	npm ci --prefix $(CARD_CHECK) --no-audit --no-fund --loglevel=error
	touch $(CARD_STAMP)

# one pytest worker per core (pytest-xdist): each has its own databases, copied from its own
# templates (tests/databases.py), and its own servers on free ports
TEST_WORKERS ?= auto
test: $(STAMP) $(CARD_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot adapters surveys storage

bench: $(STAMP)
	$(BIN)/python bench/trends.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache $(CARD_CHECK)/node_modules
