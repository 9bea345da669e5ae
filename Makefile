# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: install demo test lint typecheck pytest bench lock clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the locked dependencies

demo: install ## embedded database, medium world, trained champions, scores, demo users; then serve
	$(BIN)/allotment demo

test: install lint typecheck pytest ## lint, type-check and run the whole test suite

lint: install
	$(BIN)/ruff check src tests bench training notebooks
	$(BIN)/ruff format --check src tests bench training notebooks

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

bench: install ## time `allotment generate` at every scale
	$(BIN)/python bench/bench_generate.py

lock: ## re-resolve requirements.lock from pyproject.toml (needs an installed venv)
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
