# Two commands set everything up on a fresh machine: `make demo` and `make test`.
#
# The development and CI environment (.venv) is installed from requirements-dev.lock: every
# package pinned with hashes, so a fresh machine gets exactly the versions the suite last
# passed with. `make lock` refreshes the lock; `make test-latest` runs the suite against the
# newest releases a user's `pip install` would pick; `make test-floor` against the oldest
# versions pyproject.toml declares.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-stamp
LOCK    = requirements-dev.lock

.PHONY: demo test test-long lint typecheck pytest system-deps lock test-latest test-floor clean

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m compileall -q sansio_registry sansio_registry_driverkit trio_backend >/dev/null
	@touch $@

system-deps:
	@bash .ci/system-deps

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) system-deps
	$(PY) -m pytest

test: lint typecheck pytest

# The hypothesis tests of the core (properties and stateful fault scripts) with the `thorough`
# profile: 2000 examples each instead of the `ci` profile's 150. Minutes, not seconds.
test-long: $(STAMP)
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -p no:cacheprovider -q \
	  $$(grep -l '^from hypothesis' tests/core/*.py)

demo: $(STAMP) system-deps
	$(PY) -m tests.lab.demo

# Re-resolve every development package to its newest release, with hashes, for Python 3.11+
# on any platform. Review the diff, run `make test`, commit the lock.
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml .ci/lock.in --extra test --universal \
	  --python-version 3.11 --generate-hashes --upgrade --quiet -o $(LOCK)

# What a user's `pip install sansio-registry` resolves today (newest releases, no lock), then
# the suite. CI runs it after `make test`, so an upstream release that breaks users fails CI.
test-latest: system-deps
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade --upgrade-strategy eager '.[test]'
	.venv-latest/bin/python -m pip list --format=freeze | grep -iE '^(msgspec|pyyaml|trio|h11)='
	.venv-latest/bin/python -m pytest -p no:cacheprovider

# The oldest versions pyproject.toml claims to support, over the locked test tools.
test-floor: $(STAMP) system-deps
	rm -rf .venv-floor
	$(PYTHON) -m venv .venv-floor
	.venv-floor/bin/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	.venv-floor/bin/python -m pip install -q --no-deps $$($(PY) .ci/floor-pins)
	.venv-floor/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	.venv-floor/bin/python -m pip list --format=freeze | grep -iE '^(msgspec|pyyaml|trio|h11)='
	.venv-floor/bin/python -m pytest -p no:cacheprovider

clean:
	rm -rf $(VENV) .venv-latest .venv-floor .mypy_cache .pytest_cache .ruff_cache .hypothesis
