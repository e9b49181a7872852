# faceeval: common tasks. Variables can be overridden: make tables DATA_ROOT=DATA/300w
VENV_BIN := $(if $(wildcard .venv/bin/python),.venv/bin/,)
PYTHON ?= $(VENV_BIN)python
FACEEVAL ?= $(VENV_BIN)faceeval
RESULTS ?= $(or $(FACEEVAL_RESULTS),results)
REPORTS ?= reports
# The 300W root: FACEEVAL_DATA_ROOT, else the project's shared pack beside the checkout if present.
DATA_ROOT ?= $(or $(FACEEVAL_DATA_ROOT),$(wildcard ../shared/data/300w))
DATA_ROOT_OPT = $(if $(DATA_ROOT),--data-root $(DATA_ROOT),)

.PHONY: install test lint docs tables report readme-results bench gpu-pack gpu-train dan-release

install:  ## editable install with the peer methods and test tools, as the README does
	$(PYTHON) -m pip install -e ".[all]"

test:
	$(PYTHON) -m pytest -q

lint:  ## ruff, configured in pyproject.toml (CI runs it)
	$(PYTHON) -m ruff check .

docs:  ## the documentation site into site/ (MkDocs, strict: a broken link or API reference fails; CI runs it)
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict

# DAN weights for Fig. 3 (its internals) and its learning curve: the shipped ones unless told otherwise.
DAN_WEIGHTS ?= $(wildcard methods/dan/pretrained/dan.safetensors)
DAN_FIG_OPT = $(if $(DAN_WEIGHTS),--dan-weights $(DAN_WEIGHTS),)
INTERNALS_OPT = $(if $(and $(DAN_WEIGHTS),$(DATA_ROOT)),--internals-from 300w/challenging,)

tables:  ## the paper's Tables 2-6 and figures from cached runs (seconds)
	$(FACEEVAL) tables --results $(RESULTS) $(DATA_ROOT_OPT) --out $(REPORTS)
	$(FACEEVAL) figures --results $(RESULTS) $(DATA_ROOT_OPT) --out $(REPORTS) $(DAN_FIG_OPT) $(INTERNALS_OPT)

report:  ## one self-contained HTML page
	$(FACEEVAL) report --results $(RESULTS) $(DATA_ROOT_OPT) -o $(REPORTS)/report.html $(DAN_FIG_OPT)

readme-results:  ## regenerate the README's "Results on real 300W" table from the runs under RESULTS
	$(PYTHON) -m faceeval.report.readme --results $(RESULTS) --readme README.md \
		--command "make readme-results"

bench:
	@set -e; for b in benchmarks/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(PYTHON) $$b; done

# --- DAN on a GPU machine (only the repository travels; see methods/dan/gpu_train.py) ---
PACK ?= .gpu/dan-pack.npz
GPU_OUT ?= $(if $(OUT),$(OUT),gpu-out)
GPU_MINUTES ?= 8.5
# The recipe options of `faceeval train dan` (see `python -m faceeval_methods.dan.gpu_train --help`); a GPU
# machine sees each face hundreds of times, so new perturbations every epoch, a decaying learning rate and a
# moving average of the weights.
GPU_RECIPE ?= --augment fresh --lr-decay 0.5 --lr-patience 1 --ema 0.998

gpu-pack:  ## the training faces as one compact file in the git-ignored .gpu/ (run here, with the data; 300 photo-split validation faces)
	$(PYTHON) -m faceeval_methods.dan.pack --data-root $(or $(DATA_ROOT),../shared/data/300w) --out $(PACK)

# Without an install, the plugins' folder is made importable under its installed name by a link in .gpu/.
gpu-train:  ## on the GPU machine: train both stages within GPU_MINUTES, weights + figures into $OUT
	mkdir -p .gpu/import && ln -sfn ../../methods .gpu/import/faceeval_methods
	PYTHONPATH=.gpu/import:. PYTHONUNBUFFERED=1 python3 -m faceeval_methods.dan.gpu_train --pack $(PACK) --out $(GPU_OUT) --minutes $(GPU_MINUTES) $(GPU_RECIPE)

dan-release:  ## ship a DAN training folder's weights (int8, with provenance) as the default: make dan-release TRAIN_DIR=DIR
	$(PYTHON) -m faceeval_methods.dan.release $(TRAIN_DIR) $(DATA_ROOT_OPT) --readme docs/training-dan.md
