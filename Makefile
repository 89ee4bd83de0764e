# Keisei Site: `make run` sets everything up and serves the portal; `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test setup lint bench fmt clean

run: setup
	$(PY) -m keisei_site.launcher run

test: setup lint
	$(PY) -m keisei_site.launcher test

setup: $(STAMP) node_modules/.installed

# constraints.txt pins the local CPU build of torch: no multi-GB CUDA download, ever.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) -m keisei_site.launcher bench

clean:
	rm -rf $(VENV) node_modules var/static
