# Canary — the two commands: `make demo` and `make test` (plus `make bench`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SYSTEM_PACKAGES := postgresql redis-server chromium chromium-driver
BENCH_PACKAGES  := wrk

ZAF_SDK := widgets/static/vendor/zaf_sdk.min.js

.PHONY: demo test bench lint system-packages npm-tooling clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Runtime install (make demo) and test install (make test) are stamped separately. The project's own modules are
# compiled to bytecode as a wheel's install would (an editable install leaves them to the first import, and with
# PYTHONDONTWRITEBYTECODE set every `canary` command compiled them again); a file edited later is compiled on import as before.
COMPILE := $(BIN)/python -m compileall -q -j 0 -x '/(\.venv|\.git|tests|bench|build|node_modules)/' .

$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	$(COMPILE)
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	$(COMPILE)
	touch $@ $(VENV)/.runtime-installed

system-packages:
	scripts/system-packages.sh $(SYSTEM_PACKAGES)

# The Zendesk panel bundles the ZAF SDK from its npm package (never a CDN); without npm the panel
# still works when opened with an organization id, so the demo does not fail on it.
$(ZAF_SDK): manifests/tooling/zaf/package-lock.json | $(BIN)/python
	$(BIN)/python -c "from pathlib import Path; from marketplace.build import bundle_zaf_sdk; bundle_zaf_sdk(Path('$@'))"

# Pinned npm packages the marketplace tests use (ZAF SDK + esbuild, @lwc/compiler, HubSpot UI extensions).
npm-tooling: $(VENV)/.test-installed
	$(BIN)/python -c "from marketplace.build import DEFAULT_LWC_CACHE, DEFAULT_NPM_CACHE, LWC_TOOLING, ZAF_TOOLING, ensure_npm_packages as e; e(ZAF_TOOLING, DEFAULT_NPM_CACHE); e(LWC_TOOLING, DEFAULT_LWC_CACHE)"

demo: $(VENV)/.runtime-installed
	-$(MAKE) --no-print-directory $(ZAF_SDK)
	$(BIN)/canary demo

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/mypy

# One worker per core (pytest-xdist); a test file stays on one worker, so its module fixtures are built once.
test: $(VENV)/.test-installed system-packages npm-tooling lint
	$(BIN)/pytest -q -n auto --dist loadfile

bench: $(VENV)/.test-installed system-packages
	scripts/system-packages.sh $(BENCH_PACKAGES)
	@set -e; for script in bench/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script; \
	done

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
