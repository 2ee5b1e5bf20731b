# xor-lightning: `make train` then `make test` on a fresh machine; `make help` lists the rest.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CLI    := $(BIN)/python -m xor_lightning
PORT   ?= 6006

.DEFAULT_GOAL := help
.PHONY: help install train train-all train-backprop test test-fast lint check-floors notebook tensorboard study study-grid study-cures class-study class-grid compare docs bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP) ## create .venv and install the package with pinned dependencies

train: $(STAMP) ## fit xor-nn (2-2-1, autograd) for 10001 steps, as the notebook does
	$(CLI) fit -c configs/xor_nn.yaml

train-backprop: $(STAMP) ## fit the 2-2-1 net with hand-computed backprop (the notebook's first cell)
	$(CLI) fit -c configs/xor_backprop.yaml

train-all: $(STAMP) ## fit every shipped experiment, one after another
	@for c in xor_backprop xor_nn xor_nn_wide_deep perceptron; do \
		echo "=== $$c: $(CLI) fit -c configs/$$c.yaml"; $(CLI) fit -c configs/$$c.yaml || exit 1; done

test: $(STAMP) ## run the test suite, full 10001-step runs included
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## run the test suite without the slow full-length runs
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Jupyter itself is not in the lock file (the tests need only nbclient + ipykernel): install it on demand.
notebook: $(STAMP) ## open notebooks/xor_lesson.ipynb in the venv's Jupyter (or say how to install it)
	@if [ -x $(BIN)/jupyter-lab ]; then $(BIN)/jupyter lab notebooks/xor_lesson.ipynb; \
	elif [ -x $(BIN)/jupyter-notebook ]; then $(BIN)/jupyter notebook notebooks/xor_lesson.ipynb; \
	else echo "Jupyter is not installed in $(VENV); install it, then run make notebook again:"; \
	echo "  $(BIN)/python -m pip install -c constraints.txt notebook"; \
	echo "or run it without a browser: $(BIN)/python -m pytest tests/test_notebook.py"; fi

# Needs the package index and a few minutes, so `make test` leaves it out. torch stays at the lock's
# 2.13.0 (the CPU wheel on disk; an older one is a multi-GB CUDA download): its floor is argued, not run.
check-floors: ## fast tests in a scratch venv with every dependency at its declared floor (torch: lock's 2.13.0)
	$(PYTHON) scripts/check_floors.py

# TensorBoard keeps only 10 images per tag by default and drops some, step 0 included: keep them all.
tensorboard: $(STAMP) ## serve TensorBoard over logs/ on localhost (PORT=6006)
	@echo "TensorBoard at http://localhost:$(PORT)/"
	$(BIN)/tensorboard --logdir logs --host localhost --port $(PORT) --samples_per_plugin images=1000

# The four runs share nothing: two at a time (each has one torch thread), the longest first; each run's
# output is printed whole when it ends (--output-sync), then the combined table.
STUDIES := study_wide_deep study_perceptron study_xor_nn study_h4
study: $(STAMP) ## seed-ensemble study: 1024 seeds x 4 architectures, then the combined table and plot
	$(MAKE) --no-print-directory -j2 --output-sync=target $(STUDIES:%=study-run-%)
	$(BIN)/python -m xor_lightning.studies.ensemble_report logs

study-run-%: $(STAMP)
	$(CLI) fit -c configs/$*.yaml

study-grid: $(STAMP) ## width 1..8 and 2-10-10-10-1 x lr 0.1..10 x 1024 seeds: logs/study_grid.{csv,md,png}
	$(CLI) fit -c configs/study_grid.yaml $(ARGS)

study-cures: $(STAMP) ## 2-10-10-10-1 x sigmoid/tanh/relu x SGD/momentum/Adam x lr 0.01..1 x 256 seeds: logs/study_cures.*
	$(CLI) fit -c configs/study_cures.yaml $(ARGS)

# Class presets: the studies' answers in well under a minute (docs/teaching.md has the measured times).
class-study: $(STAMP) ## seed study, class size: 128 seeds of 2-2-1, 3001 steps (logs/class_study/version_N)
	$(CLI) fit -c configs/class_study.yaml $(ARGS)

class-grid: $(STAMP) ## study grid, class size: width 1, 2, 4 x lr 1, 3, 10 x 32 seeds, 2001 steps: logs/class_grid.*
	$(CLI) fit -c configs/class_grid.yaml $(ARGS)

RUNS ?= logs/xor_nn
OUT  ?= compare.png
compare: $(STAMP) ## one PNG overlaying runs' costs and gradient norms: make compare RUNS="logs/a/version_0 logs/b/version_0"
	$(CLI) compare $(RUNS) -o $(OUT)

docs: $(STAMP) ## redraw the pictures under docs/ that the README shows (one wide-deep fit, ~10 s)
	$(BIN)/python docs/make_pictures.py

bench: $(STAMP) ## whole-process timings: the lesson's runs against plain scripts, the studies against their targets (~40 min); updates bench/RESULTS.md
	$(BIN)/python bench/bench.py --write bench/RESULTS.md
	$(BIN)/python bench/bench_grid.py --write bench/RESULTS.md

clean: ## remove logs, caches and the virtualenv
	rm -rf logs lightning_logs .pytest_cache .ruff_cache build *.egg-info $(VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
