"""Where the repository's files live, in one place: no folder is derived from another.

In a checkout (the usual case, `pip install -e .`) everything is under the repository root; an installed
package without a checkout uses the working directory instead. Only the data folder can be moved, with
$MNISTLIB_DATA; results, figures, notebooks and reports stay in the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent
ROOT = _PACKAGE_PARENT if (_PACKAGE_PARENT / "pyproject.toml").is_file() else Path.cwd()
RESULTS_DIR = ROOT / "results"
FIGURES_DIR = ROOT / "figures"
NOTEBOOKS_DIR = ROOT / "notebooks"
REPORTS_DIR = ROOT / "reports"
BENCHMARKS_DIR = ROOT / "benchmarks"
BUILD_DIR = ROOT / "build"


def data_dir() -> Path:
    """Where MNIST is read and cached: $MNISTLIB_DATA if set, else data/ in the repository (from any directory)."""
    env = os.environ.get("MNISTLIB_DATA")
    return Path(env) if env else ROOT / "data"


def results_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """The folder of run files: `given`, else results/ in the repository (never derived from the data folder)."""
    return Path(given) if given else RESULTS_DIR


def shown(path: str | os.PathLike[str]) -> str:
    """A path as pages and result files show it: relative to the repository when inside it (no machine paths)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
