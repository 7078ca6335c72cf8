# Set-up is done by the targets themselves: `.venv` is created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test lint demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples

demo: $(STAMP)
	$(BIN)/scalecmp demo --out runs/demo

bench: $(STAMP)
	$(BIN)/python benchmarks/extrapolation.py
	$(BIN)/python benchmarks/calibration.py
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs build dist .pytest_cache .ruff_cache
