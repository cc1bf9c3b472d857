# Canary — the two commands: `make demo` and `make test` (plus `make bench`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SYSTEM_PACKAGES := postgresql redis-server chromium chromium-driver
BENCH_PACKAGES  := wrk

.PHONY: demo test bench lint system-packages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Runtime install (make demo) and test install (make test) are stamped separately.
$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@ $(VENV)/.runtime-installed

system-packages:
	scripts/system-packages.sh $(SYSTEM_PACKAGES)

demo: $(VENV)/.runtime-installed
	$(BIN)/canary demo

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(VENV)/.test-installed system-packages lint
	$(BIN)/pytest -q

bench: $(VENV)/.test-installed system-packages
	scripts/system-packages.sh $(BENCH_PACKAGES)
	@set -e; for script in bench/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script; \
	done

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
