"""IDX files: LeCun's format, in torchvision's <data>/MNIST/raw layout (.gz or decompressed)."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from mnistlib.data.arrays import DataError, MnistArrays, check_split

# Canonical MNIST files, and the md5 and size of their decompressed content, in the same order.
IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
MD5 = dict(zip(IDX_FILES.values(), ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
               "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"), strict=True))
SIZES = dict(zip(IDX_FILES.values(), (47_040_016, 60_008, 7_840_016, 10_008), strict=True))
_MAGIC = {"labels": 0x00000801, "images": 0x00000803}


@contextlib.contextmanager
def open_content(path: Path) -> Iterator[BinaryIO]:
    """An IDX file as a stream, gunzipped if gzip (by magic, not name); read in pieces, so no gzip bomb fills memory."""
    try:
        with open(path, "rb") as handle:
            gz = handle.read(2) == b"\x1f\x8b"
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not gz and path.suffix == ".gz":
        raise DataError(f"{path}: named .gz but is not gzip-compressed")
    with (gzip.open if gz else open)(path, "rb") as handle:
        try:
            yield handle
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc})") from exc


def content_md5(path: Path, name: str, copy_to: Path | None = None) -> str:
    """md5 of the decompressed content by the MiB (copied to `copy_to` if given), refused past `name`'s true size."""
    digest, size = hashlib.md5(usedforsecurity=False), 0
    with open_content(path) as src, open(copy_to or os.devnull, "wb") as out:
        while chunk := src.read(min(1 << 20, SIZES[name] + 1 - size)):
            digest.update(chunk)
            size += out.write(chunk)
    if size > SIZES[name]:
        raise DataError(f"{path}: decompresses to more than the {SIZES[name]:,} bytes of {name}")
    return digest.hexdigest()


def read_idx(path: str | os.PathLike[str]) -> torch.Tensor:
    """Decode one uint8 IDX file (.gz or plain), exactly well-formed: idx1 in the name means labels, idx3 images (by
    magic); no more is read than the header declares, then a probe that nothing follows (a gzip bomb stops there)."""
    path = Path(path)
    kinds = [kind for tag, kind in (("idx1", "labels"), ("idx3", "images")) if tag in path.name] or list(_MAGIC)
    with open_content(path) as handle:
        if len(head := handle.read(4)) < 4:
            raise DataError(f"{path}: too short for an IDX header ({len(head)} bytes)")
        if (magic := int.from_bytes(head, "big")) not in [_MAGIC[kind] for kind in kinds]:
            raise DataError(f"{path}: wrong IDX magic number 0x{magic:08x} (expected "
                            f"{' or '.join(f'0x{_MAGIC[kind]:08x} for {kind}' for kind in kinds)})")
        raw_dims = handle.read(4 * head[3])
        if len(raw_dims) < 4 * head[3]:
            raise DataError(f"{path}: truncated IDX header ({4 + len(raw_dims)} bytes, {head[3]} dims need more)")
        dims = [int.from_bytes(raw_dims[i : i + 4], "big") for i in range(0, len(raw_dims), 4)]
        size, body = math.prod(dims), bytearray()
        while len(body) < size and (chunk := handle.read(min(size - len(body), 1 << 24))):
            body += chunk
        if len(body) < size:
            raise DataError(f"{path}: truncated IDX body: {len(body)} bytes of data, dims {dims} need {size}")
        if extra := len(handle.read(1 << 16)):  # a probe: what follows is not decompressed, whatever its size
            raise DataError(f"{path}: {extra:,}{'+' * (extra == 1 << 16)} trailing bytes after the IDX body "
                            f"(dims {dims})")
    return torch.from_numpy(np.frombuffer(body, dtype=np.uint8).reshape(dims))


def idx_paths(raw_dir: Path) -> tuple[dict[str, Path], list[str]]:
    """The four IDX files in raw_dir (decompressed preferred, else .gz) and the names that are missing."""
    found = {key: next((c for c in (raw_dir / name, raw_dir / f"{name}.gz") if c.is_file()), None)
             for key, name in IDX_FILES.items()}
    return {key: p for key, p in found.items() if p}, [f"{IDX_FILES[key]}[.gz]" for key, p in found.items() if not p]


def load_idx_folder(raw_dir: str | os.PathLike[str]) -> MnistArrays:
    """Read the four MNIST IDX files from torchvision's <data>/MNIST/raw layout (.gz or decompressed)."""
    raw_dir = Path(raw_dir)
    found, missing = idx_paths(raw_dir)
    if missing:
        raise DataError(f"{raw_dir}: missing MNIST IDX file(s) {', '.join(missing)}")
    t = {key: read_idx(path) for key, path in found.items()}
    t.update(train_labels=t["train_labels"].long(), test_labels=t["test_labels"].long())
    for images, labels in (("train_images", "train_labels"), ("test_images", "test_labels")):  # also: 1-D labels
        check_split(t[images], t[labels], str(found[images]), str(found[labels]))
    return MnistArrays(**t, source="idx", origin=str(raw_dir))
