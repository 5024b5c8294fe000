"""The course template's `MNIST` Dataset: a folder, .tar or .tar.gz of "{id}_{label}.png" (read by mnistfiles)."""

from __future__ import annotations

import os

import torch

from mnistfiles import read_png_archive
from mnistlib.data.batches import normalise


class MNIST(torch.utils.data.Dataset):
    """The course template's Dataset: its digits decoded once, each served as a normalised [1,28,28] image."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.images, self.labels = read_png_archive(data_dir)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return normalise(self.images[i].unsqueeze(0))[0], int(self.labels[i])
