# The two commands a new user needs:
#   make run    start the devnet sequencer (creates .venv and installs on first use)
#   make test   run the test suite (installs Python and npm dependencies on first use)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NPM_STAMP := node_modules/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test test-slow bench compile-contracts clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, at the pinned version: its CPU wheel is the one the machines have;
	# an unpinned requirement would pull the CUDA build and several GB of packages.
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,attribution,ray]'
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	# Hardhat 3's native EDR binding wants Node >= 22, so npm on an older system Node
	# skips it; npm run on the Node 24 that `npm ci` just installed adds it from the lockfile.
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" npm install --no-save --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

run: $(STAMP)
	$(VENV)/bin/openledger-node sequencer --config configs/devnet.toml

test: $(STAMP) $(NPM_STAMP)
	$(PY) -m pytest -q -n 2 --dist loadscope $(PYTEST_ARGS)

test-slow: $(STAMP) $(NPM_STAMP)
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/block_production.py
	$(PY) bench/crash_recovery.py

compile-contracts: $(NPM_STAMP)
	node contracts/compile.mjs

clean:
	rm -rf $(VENV) node_modules data
