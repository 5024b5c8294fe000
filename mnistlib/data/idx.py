"""IDX files: LeCun's format, in torchvision's <data>/MNIST/raw layout (.gz or decompressed)."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from mnistlib.data.arrays import DataError, MnistArrays, check_split

# Canonical MNIST files and the md5 of their decompressed content.
IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_IDX_LABEL_MAGIC = 0x00000801
_IDX_IMAGE_MAGIC = 0x00000803


def read_content(path: Path) -> bytes:
    """Whole file content, gunzipped when it is gzip (by magic, not by name): IDX files and the mirror's copies."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if raw[:2] != b"\x1f\x8b":
        if path.suffix == ".gz":
            raise DataError(f"{path}: named .gz but is not gzip-compressed")
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc})") from exc


def read_idx(path: str | os.PathLike[str]) -> torch.Tensor:
    """Decode one uint8 IDX file (.gz or plain), refusing anything that is not exactly well-formed."""
    path = Path(path)
    data = read_content(path)
    if len(data) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic not in (_IDX_LABEL_MAGIC, _IDX_IMAGE_MAGIC):
        raise DataError(f"{path}: wrong IDX magic number 0x{magic:08x} "
                        f"(expected 0x{_IDX_LABEL_MAGIC:08x} for labels or 0x{_IDX_IMAGE_MAGIC:08x} for images)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, need {header} for {ndim} dims)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)
    if len(data) < expected:
        raise DataError(f"{path}: truncated IDX body: {len(data) - header} bytes of data, "
                        f"dims {dims} need {expected - header}")
    if len(data) > expected:
        raise DataError(f"{path}: {len(data) - expected} trailing bytes after the IDX body (dims {dims})")
    array = np.frombuffer(data, dtype=np.uint8, count=expected - header, offset=header).reshape(dims)
    return torch.from_numpy(array.copy())


def idx_paths(raw_dir: Path) -> tuple[dict[str, Path], list[str]]:
    """The four IDX files in raw_dir (decompressed preferred, else .gz) and the names that are missing."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, name in IDX_FILES.items():
        for candidate in (raw_dir / name, raw_dir / f"{name}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(f"{name}[.gz]")
    return found, missing


def load_idx_folder(raw_dir: str | os.PathLike[str]) -> MnistArrays:
    """Read the four MNIST IDX files from torchvision's <data>/MNIST/raw layout (.gz or decompressed)."""
    raw_dir = Path(raw_dir)
    found, missing = idx_paths(raw_dir)
    if missing:
        raise DataError(f"{raw_dir}: missing MNIST IDX file(s) {', '.join(missing)}")
    t = {key: read_idx(path) for key, path in found.items()}
    for split in ("train", "test"):  # check_split also refuses a label file that is not 1-D
        images, labels = f"{split}_images", f"{split}_labels"
        t[labels] = t[labels].long()
        check_split(t[images], t[labels], str(found[images]), str(found[labels]))
    return MnistArrays(**t, source="idx", origin=str(raw_dir))
