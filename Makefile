# xor-lightning: `make train` then `make test` on a fresh machine; `make help` lists the rest.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CLI    := $(BIN)/python -m xor_lightning
PORT   ?= 6006

.DEFAULT_GOAL := help
.PHONY: help install train train-all train-backprop test test-fast lint tensorboard study study-grid bench clean

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
	for c in xor_backprop xor_nn xor_nn_wide_deep perceptron; do $(CLI) fit -c configs/$$c.yaml || exit 1; done

test: $(STAMP) ## run the test suite, full 10001-step runs included
	$(BIN)/python -m pytest

test-fast: $(STAMP) ## run the test suite without the slow full-length runs
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

tensorboard: $(STAMP) ## serve TensorBoard over logs/ on localhost (PORT=6006)
	@echo "TensorBoard at http://localhost:$(PORT)/"
	$(BIN)/tensorboard --logdir logs --host localhost --port $(PORT)

study: $(STAMP) ## seed-ensemble study: 1024 seeds x 4 architectures, then the combined table and plot
	for c in study_perceptron study_xor_nn study_h4 study_wide_deep; do $(CLI) fit -c configs/$$c.yaml || exit 1; done
	$(BIN)/python -m xor_lightning.study logs

study-grid: $(STAMP) ## width 1..8 and 2-10-10-10-1 x lr 0.1..10 x 1024 seeds: logs/study_grid.{csv,md,png}
	$(CLI) fit -c configs/study_grid.yaml $(ARGS)

bench: $(STAMP) ## benchmark Lightning runs against the raw notebook loops
	$(BIN)/python bench/bench.py

clean: ## remove logs, caches and the virtualenv
	rm -rf logs lightning_logs .pytest_cache .ruff_cache build *.egg-info $(VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
