"""Where the repository's files live, none derived from another: under the checkout's root (else the working
directory); only the data folder moves, with $MNISTLIB_DATA."""

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
