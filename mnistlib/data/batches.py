"""The fast batches: uint8 tensors kept on the device, normalised (and augmented) per batch there."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

from mnistlib.data.arrays import MEAN, STD


def normalise(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [B,28,28] -> float32 [B,1,28,28], (x/255 - MEAN) / STD, on the input's device."""
    return images_u8.unsqueeze(1).float().div_(255.0).sub_(MEAN).div_(STD)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffle of epoch `epoch`: a permutation of range(n) that depends on (seed, epoch) alone."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))


Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class TensorBatches:
    """DataLoader stand-in over uint8 tensors on the device (no workers, no per-sample Python). Epoch e (counted per
    iteration, or set with set_epoch) shuffles with a generator seeded by seed + e: reproducible, and epochs differ."""

    def __init__(self, images_u8: torch.Tensor, labels: torch.Tensor, batch_size: int = 64, shuffle: bool = False,
                 device: str | torch.device = "cpu", augment: Augment | None = None, seed: int = 0,
                 drop_last: bool = False) -> None:
        if images_u8.dtype != torch.uint8:
            raise TypeError(f"images must be uint8, got {images_u8.dtype}")
        if images_u8.ndim == 4 and images_u8.shape[1] == 1:
            images_u8 = images_u8[:, 0]
        if images_u8.shape[0] != labels.shape[0]:
            raise ValueError(f"{images_u8.shape[0]} images but {labels.shape[0]} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.images = images_u8.to(self.device)
        self.labels = labels.to(self.device, torch.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.seed = seed
        self.drop_last = drop_last
        self.dataset_size = int(self.images.shape[0])
        self.epoch = 0  # the epoch the next iteration will use

    def set_epoch(self, epoch: int) -> None:
        """The next iteration uses this epoch's shuffle and augmentation (and counts on from it)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if self.drop_last:
            return self.dataset_size // self.batch_size
        return math.ceil(self.dataset_size / self.batch_size)

    def _aug_generator(self, epoch: int) -> torch.Generator:
        try:
            gen = torch.Generator(device=self.device)
        except RuntimeError:  # devices without their own generator draw on the CPU
            gen = torch.Generator()
        # A different stream from the shuffle's, still a pure function of (seed, epoch).
        return gen.manual_seed((self.seed + epoch) * 1_000_003 + 12_345)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.epoch += 1  # counted now, not when the generator below first runs
        return self._batches(self.epoch - 1)

    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.dataset_size
        order = epoch_order(n, self.seed, epoch).to(self.device) if self.shuffle else None
        aug_gen = self._aug_generator(epoch) if self.augment is not None else None
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            if order is None:
                xb, yb = self.images[start:end], self.labels[start:end]
            else:
                idx = order[start:end]
                xb, yb = self.images.index_select(0, idx), self.labels.index_select(0, idx)
            x = normalise(xb)
            if self.augment is not None:
                x = self.augment(x, aug_gen)
            yield x, yb
