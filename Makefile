# Two commands matter to a new user: `make demo` and `make test`. Each installs what is missing
# (virtual environment, packages, local services) before it runs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
# make bench BENCH_ARGS="--events 250000" (python -m bench --help lists them)
BENCH_ARGS ?=
# Test processes (pytest-xdist); TEST_ARGS adds pytest options, e.g. TEST_ARGS="-k kill_9".
TEST_WORKERS ?= 2
TEST_ARGS ?=

.PHONY: install services services-down tools test faults typecheck unit demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

services: $(STAMP)
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down
	GIM_SERVICES_DIR=$(CURDIR)/.local/faults bash scripts/services.sh down

# helm (built once into .local/bin) and promtool (Debian's prometheus package) for the
# deployment tests: tests/deploy and tests/integration/test_metrics_names.py.
tools:
	bash scripts/tools.sh

test: services tools typecheck
	set -a && source .local/services.env && set +a && \
		$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal \
		--durations=10 -m "not slow_fault" $(TEST_ARGS)

# The fault suite (tests/faults), one fault at a time on a second set of services that it
# starts under .local/faults: per fault, rows lost, duplicated and unexpected and the time to
# recover, printed and written to var/faults.json (docs/reliability.md).
faults: services
	set -a && source .local/services.env && set +a && \
		$(PY) -m pytest -q -p no:cacheprovider tests/faults $(TEST_ARGS)

# mypy: --strict on transforms/ and tables/, the default strictness on the rest.
typecheck: $(STAMP)
	$(PY) scripts/typecheck.py

unit: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(BENCH_STAMP)

# The figures of docs/performance.md on the local services; JSON in bench/results/.
bench: services $(BENCH_STAMP)
	set -a && source .local/services.env && set +a && $(PY) -m bench $(BENCH_ARGS)

demo: services
	set -a && source .local/services.env && set +a && $(PY) -m gim_faust.commands.demo

clean: services-down
	rm -rf $(VENV) .local var
