# Keisei Site: `make run` sets everything up and serves the portal; `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-external setup chromium docker-compose caddy lint bench screenshots fmt clean

run: setup
	$(PY) -m keisei_site.launcher run

test: setup chromium docker-compose caddy lint
	$(PY) -m keisei_site.launcher test

# The integration tests of the production path (-m servers: a real worker, beat, Daphne or
# the broker) once more, against the machine's own PostgreSQL, Redis and RabbitMQ; CI runs it
# after `make test`. Its own database (test_keisei_external) and Redis database (13); the
# tests that stop a server skip, never touching the machine's. EXTERNAL_TESTS=tests/integration
# runs every integration test there.
EXTERNAL_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/keisei_external
EXTERNAL_REDIS_URL ?= redis://127.0.0.1:6379/13
EXTERNAL_BROKER_URL ?= amqp://guest:guest@127.0.0.1:5672//
EXTERNAL_VAR_DIR ?= var/external
EXTERNAL_TESTS ?= tests/integration -m servers
test-external: setup
	DATABASE_URL=$(EXTERNAL_DATABASE_URL) REDIS_URL=$(EXTERNAL_REDIS_URL) \
	CELERY_BROKER_URL=$(EXTERNAL_BROKER_URL) KEISEI_VAR_DIR=$(EXTERNAL_VAR_DIR) \
	$(PY) -m keisei_site.launcher test -- $(EXTERNAL_TESTS)

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

# The browser tests drive Debian's Chromium; install it when it is missing (needs root).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	    >/dev/null || { echo "could not install chromium: run 'sudo apt-get install chromium'"; exit 1; }; }

# The compose-file test validates docker/compose.yaml with Debian's docker-compose (1.29, no
# Docker engine needed for `config`); install it when it is missing (needs root).
DOCKER_COMPOSE ?= /usr/bin/docker-compose
docker-compose:
	@test -x $(DOCKER_COMPOSE) || { \
	  echo "installing Debian's docker-compose for the compose-file test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends docker-compose; } \
	    >/dev/null || { echo "could not install docker-compose: run 'sudo apt-get install docker-compose'"; exit 1; }; }

# The same test reads docker/Caddyfile with Debian's caddy (`caddy adapt`, no server started).
CADDY ?= /usr/bin/caddy
caddy:
	@test -x $(CADDY) || { \
	  echo "installing Debian's caddy for the Caddyfile test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends caddy; } \
	    >/dev/null || { echo "could not install caddy: run 'sudo apt-get install caddy'"; exit 1; }; }

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

fmt: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every benchmark, reduced (--quick); each starts and stops its own servers and prints its
# figures as one JSON line (docs/benchmarks.md); its other output goes to var/bench-<name>.log.
BENCHES := training learning ingest history fanout overhead commands recovery analysis api storage pages federated alerts play explain

bench: setup
	@mkdir -p var
	@for name in $(BENCHES); do \
		echo "== bench/$$name.py --quick" >&2; \
		out=$$($(PY) bench/$$name.py --quick 2>var/bench-$$name.log) \
			|| { echo "bench/$$name.py failed: see var/bench-$$name.log" >&2; exit 1; }; \
		echo "$$out" | tail -n 1; \
	done

# A PNG of every page with a shogi-ppo run training live, into docs/screenshots/ (README).
screenshots: setup chromium
	$(PY) docs/screenshots/make.py

clean:
	rm -rf $(VENV) node_modules var/static
