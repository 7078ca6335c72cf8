# Set-up is done by the targets themselves: `.venv` is created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test slurm-test lint demo bench clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $(STAMP)

setup: $(STAMP)

# headless Chromium for tests/test_report_browser.py: installed with apt-get when missing
# (idempotent; the browser test skips, saying why, when it cannot be installed)
chromium:
	scripts/ensure-chromium.sh

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

# a real one-node Slurm (Debian's slurm-wlm, munge, slurmdbd on a local MariaDB), started for
# the Slurm tests and stopped afterwards: a grid through --executor slurm, scancel and SIGKILL
# mid-run, a second grid run that finishes it, the table equal to a local run
slurm-test: $(STAMP)
	scripts/slurm-local.sh start
	SCALECMP_SLURM_TESTS=1 $(BIN)/python -m pytest -q -m slurm tests/test_slurm.py; \
	rc=$$?; scripts/slurm-local.sh stop; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples

demo: $(STAMP)
	$(BIN)/scalecmp demo --out runs/demo --force

bench: $(STAMP)
	$(BIN)/python benchmarks/extrapolation.py
	$(BIN)/python benchmarks/calibration.py
	$(BIN)/python benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs build dist .pytest_cache .ruff_cache
