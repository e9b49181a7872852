# faceeval: common tasks. Variables can be overridden: make tables DATA_ROOT=~/data/300w
VENV_BIN := $(if $(wildcard .venv/bin/python),.venv/bin/,)
PYTHON ?= $(VENV_BIN)python
FACEEVAL ?= $(VENV_BIN)faceeval
RESULTS ?= results
REPORTS ?= reports
DATA_ROOT ?=
DATA_ROOT_OPT = $(if $(DATA_ROOT),--data-root $(DATA_ROOT),)

.PHONY: install test lint tables report bench

install:  ## editable install with the peer methods and test tools, as the README does
	$(PYTHON) -m pip install -e ".[all]"

test:
	$(PYTHON) -m pytest -q

lint:  ## ruff, configured in pyproject.toml (CI runs it)
	$(PYTHON) -m ruff check .

tables:  ## the paper's Tables 2-6 and figures from cached runs (seconds)
	$(FACEEVAL) tables --results $(RESULTS) $(DATA_ROOT_OPT) --out $(REPORTS)
	$(FACEEVAL) figures --results $(RESULTS) $(DATA_ROOT_OPT) --out $(REPORTS)

report:  ## one self-contained HTML page
	$(FACEEVAL) report --results $(RESULTS) $(DATA_ROOT_OPT) -o $(REPORTS)/report.html

bench:
	@set -e; for b in benchmarks/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(PYTHON) $$b; done
