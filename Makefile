# Two commands on a fresh machine:
#   make demo   -- set everything up, then run the demo
#   make test   -- set everything up, then run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast bench lint clean

# torch first, pinned to the CPU build on disk: anything that pulls an unpinned
# torch before it would download a multi-GB CUDA build.
$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/ikml-gym demo

# The full suite, slow end-to-end tests included (CI). `make test-fast` skips them.
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/kinematics.py

lint: $(STAMP)
	$(BIN)/ruff check ikml_gym tests benchmarks examples

clean:
	rm -rf $(VENV) build dist *.egg-info
