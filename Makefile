# teampulse: `make run` to try it, `make test` to test it.  Both create .venv on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the Adaptive Card checker the Teams card tests run (Node.js: Microsoft's own card library)
CARD_CHECK := tests/adaptive_cards
CARD_STAMP := $(CARD_CHECK)/node_modules/.installed

.PHONY: run test lint typecheck check bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/teampulse serve

$(CARD_STAMP): $(CARD_CHECK)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "Node.js 20 and npm are needed (the Teams card tests)"; exit 1; }
	npm ci --prefix $(CARD_CHECK) --no-audit --no-fund --loglevel=error
	touch $(CARD_STAMP)

test: $(STAMP) $(CARD_STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot adapters surveys storage

bench: $(STAMP)
	$(BIN)/python bench/trends.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache $(CARD_CHECK)/node_modules
