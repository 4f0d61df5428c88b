# Two commands on a fresh machine:
#   make demo   -- set everything up, then run the demo
#   make test   -- set everything up, then run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# RLlib pins gymnasium 1.2.x (the main venv runs 1.4): its tests run in a second venv
RLLIB_VENV  ?= .venv-rllib
RLLIB_BIN   := $(RLLIB_VENV)/bin
RLLIB_STAMP := $(RLLIB_VENV)/.installed
comma := ,
# IKML_REQUIRE_RLLIB=1: a missing Ray fails these tests instead of skipping them
RLLIB_PYTEST := IKML_REQUIRE_RLLIB=1 $(RLLIB_BIN)/python -m pytest -q -p no:cacheprovider \
                tests/test_rllib.py tests/test_rllib_env.py

.PHONY: setup setup-rllib demo test test-rllib test-fast bench lint clean

# $(call make_venv,DIR,EXTRAS): a virtualenv with ikml_gym[EXTRAS] installed editable.
# torch first, pinned to the CPU build on disk: anything that pulls an unpinned
# torch before it would download a multi-GB CUDA build.
define make_venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --upgrade pip
	$(1)/bin/pip install --quiet torch==2.13.0
	$(1)/bin/pip install --quiet -e ".[$(2)]"
	touch $(1)/.installed
endef

$(STAMP): setup.cfg pyproject.toml
	$(call make_venv,$(VENV),all$(comma)dev)

$(RLLIB_STAMP): setup.cfg pyproject.toml
	$(call make_venv,$(RLLIB_VENV),rllib$(comma)dev)

setup: $(STAMP)

setup-rllib: $(RLLIB_STAMP)

demo: $(STAMP)
	$(BIN)/ikml-gym demo

# The full suite, slow end-to-end tests included (CI), then the RLlib tests in their
# venv. `make test-fast` skips the slow ones.
test: $(STAMP) $(RLLIB_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider
	$(RLLIB_PYTEST)

test-rllib: $(RLLIB_STAMP)
	$(RLLIB_PYTEST)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/kinematics.py

lint: $(STAMP)
	$(BIN)/ruff check ikml_gym tests benchmarks examples

clean:
	rm -rf $(VENV) $(RLLIB_VENV) build dist *.egg-info
