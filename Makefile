# The two commands a newcomer needs: `make run` and `make test`. Each sets itself up.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

# Each target installs only what it needs, one stamp per set: `run` the service's own
# dependencies, `test` adds the test extras, `lint` the development tools. A set installs
# in one pip call and includes the ones before it, so it renews their stamps too; any
# change to pyproject.toml renews them all.
RUNTIME := $(VENV)/.installed-runtime
TESTING := $(VENV)/.installed-test
DEV := $(VENV)/.installed-dev

.PHONY: run test bench lint fmt install clean

# A current pip resolves the dependencies several seconds faster than the one venv brings.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $(RUNTIME)

$(TESTING): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(RUNTIME) $(TESTING)

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
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
	$(BIN)/python -m bench.webhook
	$(BIN)/python -m bench.email

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
