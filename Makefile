# The two quick-start commands: `make demo` and `make test`. Both create the virtual
# environment .venv on first use, from pyproject.toml's one list of dependencies.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,export]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m tfdeeplab.demo

# Two worker processes, a test file each at a time (module fixtures stay in one
# process); about 1.5x faster than one on a 2-core machine. `pytest` alone runs
# in one process.
test: $(BIN)/.installed
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

lint: $(BIN)/.installed
	$(BIN)/ruff check .
