"""Decoded digits, whatever file they came from: the four tensors, the checks they must pass, and the error for
data that does not."""

from __future__ import annotations

import torch

TENSOR_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
Digits = dict[str, torch.Tensor]  # the four tensors of TENSOR_KEYS: uint8 images [N,28,28], int64 labels [N]


class DataError(Exception):
    """Bad or missing data; the message always names the file or folder and the problem."""


def check_digits(digits: Digits, where: dict[str, str]) -> Digits:
    """`digits` if each split holds N > 0 uint8 images [N,28,28] and N int64 labels 0-9, else a DataError naming the
    file (`where`: tensor name -> the file it was read from)."""
    for split in ("train", "test"):
        images, labels = digits[f"{split}_images"], digits[f"{split}_labels"]
        img_where, lbl_where = where[f"{split}_images"], where[f"{split}_labels"]
        if images.dtype != torch.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28) or not len(images):
            raise DataError(f"{img_where}: images are {images.dtype} {list(images.shape)}, expected uint8 "
                            "[N, 28, 28] with N > 0")
        if labels.dtype != torch.int64 or labels.ndim != 1:
            raise DataError(f"{lbl_where}: labels are {labels.dtype} {list(labels.shape)}, expected int64 [N]")
        if images.shape[0] != labels.shape[0]:
            raise DataError(f"{img_where} has {images.shape[0]:,} images but {lbl_where} has {labels.shape[0]:,} "
                            "labels")
        if (bad := labels[(labels < 0) | (labels > 9)]).numel():
            raise DataError(f"{lbl_where}: label {int(bad[0])} outside 0-9 ({bad.numel():,} such labels)")
    return digits
