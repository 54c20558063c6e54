# The two commands a newcomer needs: `make run` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean snippet

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
# Compile the device rules into the rules cache once (about 22 s of CPU): every start after it loads them.
	$(BIN)/python -c 'from collector.devices.detect import warm; warm()'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/collector serve

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check collector tests bench
	$(BIN)/ruff format --check collector tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

# Minify snippet/src/collector.js into snippet/dist/collector.js (committed; a test checks they match).
snippet:
	cd snippet && npm ci --no-audit --no-fund && node build.mjs

clean:
	rm -rf $(VENV) data
