# Two commands on a fresh clone: `make report` (train, run every notebook, export the report) and
# `make test`. Each sets itself up first. Full MNIST: MNIST_MIRROR=/path/to/mnist make report
# Without full MNIST, `make report` builds on the sample under build/sample/ and touches no committed file.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mnistlib-installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# Notebooks run from notebooks/, so a relative mirror path is made absolute here, as one string: a path with spaces
# stays whole ($(abspath) would split it into words).
ifdef MNIST_MIRROR
override MNIST_MIRROR := $(if $(filter /%,$(firstword $(MNIST_MIRROR))),$(MNIST_MIRROR),$(CURDIR)/$(MNIST_MIRROR))
export MNIST_MIRROR
endif

.PHONY: setup test browser report quick-report course-data slides pdf bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e '.[dev]' 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -c "import torch, torchvision, mnistlib; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	@# The notebooks' kernel, inside .venv only (--sys-prefix): the venv's JupyterLab and `make report` find it,
	@# and nothing is left outside the clone. Earlier versions also installed a --user copy: `make clean` removes it.
	$(BIN)/python -m ipykernel install --sys-prefix --name mnistlib --display-name "Python (mnistlib)" >/dev/null
	touch $(STAMP)

test: setup browser
	$(BIN)/ruff check mnistlib mnistfiles mnistreport tests benchmarks scripts main.py
	$(BIN)/python -m pytest

# Debian's chromium (Playwright drives it: browser tests, PDF) and poppler-utils (pdftoppm, the PDF test), with
# apt-get, system-wide; the script says what it installs before it does, and does nothing when both are there.
browser:
	bash scripts/install_browser.sh

# Full MNIST found (data/, MNIST_MIRROR or a download): every notebook in place, reports/report.html, figures/,
# README's results block; stored runs under results/ are reused: 1-2 minutes (120 s and 121 s measured 2026-12-01 on
# a 2-core AMD EPYC VM under load, 61 s earlier). RETRAIN=1 trains everything again.
# No full MNIST: the same notebooks on the 5,000-digit sample, all of it under build/sample/ (git ignores it); every
# run trains the first time (8 min 3 s and 8 min 23 s measured 2026-11-25 on the same machine, the version before).
report: setup
	$(BIN)/python -m mnistreport build $(if $(RETRAIN),--retrain) $(if $(JOBS),--jobs $(JOBS))

# The sample, 2 epochs, under build/quick/ (or OUT=..., relative to the repository): what the tests run, never
# touching committed files. 3-5 minutes from nothing stored (191 s and 287 s measured 2026-12-01, same machine).
quick-report: setup
	$(BIN)/python -m mnistreport build --quick --out-dir $(or $(OUT),build/quick)

# One reveal.js deck from the cells marked as slides (cell metadata), with the reveal.js vendored in
# mnistreport/vendor inlined (no Node): opens offline. Title slide from report.toml.
slides: setup
	$(BIN)/python -m mnistreport slides --out reports/slides.html

# reports/report.pdf from the same notebooks, printed by the system Chromium (A4, code folded, no cell split).
pdf: setup browser
	$(BIN)/python -m mnistreport pdf --out reports/report.pdf

# The course's format for trying the template's API: build/course/train.tar and test.tar of {id}_{label}.png, from
# the MNIST load_mnist finds (data/ or MNIST_MIRROR), else the sample; read with MNIST("build/course/train.tar").
# Not in data/, where archives of the sample would pass for full data. 18-25 s for full MNIST on 2 cores.
course-data: setup
	$(BIN)/python scripts/course_data.py

# One epoch through four input pipelines, then a sweep: 1 process x all threads vs 1 process per core. Each writes a
# new file in benchmarks/ (machine and date in its name: committed results are never overwritten), which README's
# block is generated from. About 6 minutes on 2 idle cores (estimated from the stored medians; far more under load),
# and the first run writes the template pipeline's 70,000 PNGs into data/bench_png/.
bench: setup
	$(BIN)/python benchmarks/bench_epoch.py
	$(BIN)/python benchmarks/bench_sweep.py

lint: setup
	$(BIN)/ruff check .

# Everything the commands made, and the --user kernel copy earlier versions installed (if it points here).
clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
	@k="$${JUPYTER_DATA_DIR:-$$HOME/.local/share/jupyter}/kernels/mnistlib"; \
	if grep -qs '"$(CURDIR)/$(VENV)/' "$$k/kernel.json"; then rm -rf "$$k"; echo "removed $$k"; fi
