# The two commands a newcomer needs: `make run` and `make test`. Each sets itself up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

# Each target installs only what it needs, one stamp per set: `run` the service's own
# dependencies, `test` adds the test extras, `lint` the development tools. Each set is a
# lock file in requirements/ (every version pinned, every file's hash checked, so every
# machine gets the same packages), then the project itself on top without dependencies.
# A set's lock holds the sets before it at the same versions, so installing it renews
# their stamps too; a set is installed again when its lock, one before it or pyproject.toml
# changes.
RUNTIME := $(VENV)/.installed-runtime
TESTING := $(VENV)/.installed-test
DEV := $(VENV)/.installed-dev
LOCKS := requirements

# `make lock` runs uv from a venv of its own, so the locking tool never mixes with the
# packages it pins; the version is fixed so that locks are written the same way.
LOCK_VENV := .venv-lock
UV_VERSION := 0.13.9
LOCK_FLAGS ?=
COMPILE := $(LOCK_VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" $(LOCK_FLAGS) pyproject.toml

.PHONY: run test bench lint fmt install lock clean

# A current pip resolves the dependencies several seconds faster than the one venv brings.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# $(call install-set,NAME): the locked set NAME, then the project (its entry point) on top.
define install-set
	$(BIN)/pip install --quiet --require-hashes -r $(LOCKS)/$(1).txt
	$(BIN)/pip install --quiet --no-deps -e .
endef

$(RUNTIME): $(LOCKS)/runtime.txt pyproject.toml | $(BIN)/python
	$(call install-set,runtime)
	@touch $(RUNTIME)

$(TESTING): $(LOCKS)/runtime.txt $(LOCKS)/test.txt pyproject.toml | $(BIN)/python
	$(call install-set,test)
	@touch $(RUNTIME) $(TESTING)

$(DEV): $(LOCKS)/runtime.txt $(LOCKS)/test.txt $(LOCKS)/dev.txt pyproject.toml | $(BIN)/python
	$(call install-set,dev)
	@touch $(RUNTIME) $(TESTING) $(DEV)

install: $(DEV)

# Mail servers can deliver to the service itself (see ADUAN_SMTP_INTAKE in the README).
run: export ADUAN_SMTP_INTAKE ?= 127.0.0.1:2525
run: $(RUNTIME)
	$(BIN)/aduan db upgrade
	$(BIN)/aduan run

test: $(TESTING)
	$(BIN)/pytest -q -n 2

bench: $(TESTING)
	$(BIN)/python -m bench.intake
	$(BIN)/python -m bench.routing
	$(BIN)/python -m bench.sla
	$(BIN)/python -m bench.transparency
	$(BIN)/python -m bench.webhook
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.email
	$(BIN)/python -m bench.faults

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Renew the lock files after a change to pyproject.toml's dependencies: pins that still
# fit are kept; `make lock LOCK_FLAGS=--upgrade` moves every package to its newest allowed.
# Each set is constrained by the one before, so the three agree on every shared version.
lock: $(LOCK_VENV)/bin/uv
	$(COMPILE) -o $(LOCKS)/runtime.txt
	$(COMPILE) --extra test -c $(LOCKS)/runtime.txt -o $(LOCKS)/test.txt
	$(COMPILE) --extra dev -c $(LOCKS)/test.txt -o $(LOCKS)/dev.txt

$(LOCK_VENV)/bin/uv:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet uv==$(UV_VERSION)

clean:
	rm -rf $(VENV) $(LOCK_VENV) .pytest_cache .mypy_cache .ruff_cache
