# Two commands on a fresh clone: `make report` (train, run every notebook, export reports/report.html)
# and `make test`. Each sets itself up first. Full MNIST: MNIST_MIRROR=/path/to/mnist make report
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mnistlib-installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# Notebooks run from notebooks/, so a relative mirror path is made absolute here.
ifdef MNIST_MIRROR
export MNIST_MIRROR := $(abspath $(MNIST_MIRROR))
endif

.PHONY: setup test report quick-report slides bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e '.[dev]' 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -c "import torch, torchvision, mnistlib; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	$(BIN)/python -m ipykernel install --sys-prefix --name mnistlib --display-name "Python (mnistlib)" >/dev/null
	$(BIN)/python -m ipykernel install --user --name mnistlib --display-name "Python (mnistlib)" >/dev/null
	touch $(STAMP)

# reveal.js for the offline slide deck, from the npm registry, pinned by package-lock.json.
node_modules/reveal.js/package.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: setup node_modules/reveal.js/package.json
	bash scripts/install_browser.sh
	$(BIN)/ruff check mnistlib tests benchmarks
	$(BIN)/python -m pytest

# Full mode: every notebook in place, reports/report.html, figures/, README's results block.
# Stored runs under results/ are reused; RETRAIN=1 trains everything again.
report: setup
	$(BIN)/python -m mnistlib.report $(if $(RETRAIN),--retrain)

# The sample, 2 epochs, into a temporary folder: what the tests run, never touching committed files.
quick-report: setup
	$(BIN)/python -m mnistlib.report --quick --out-dir $(or $(OUT),build/quick)

# One reveal.js deck from the cells marked as slides (cell metadata), reveal.js inlined: opens offline.
slides: setup node_modules/reveal.js/package.json
	$(BIN)/python -m mnistlib.export slides --notebooks notebooks/0*.ipynb --out reports/slides.html \
	  --subtitle "LeNet-5 vs a custom MLP, and regularization that measurably helps"

bench: setup
	$(BIN)/python benchmarks/bench_epoch.py

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
