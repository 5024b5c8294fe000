"""IDX files, LeCun's format, in torchvision's <data>/MNIST/raw layout (.gz or decompressed): read, and copied from a
mirror or downloaded with torchvision, verified by md5, all or nothing."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from mnistfiles.digits import DataError, Digits, check_digits
from mnistfiles.io import atomic_path

# The canonical MNIST files, and the md5 and size of their decompressed content.
IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
MD5 = dict(zip(IDX_FILES.values(), ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
               "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"), strict=True))
SIZES = dict(zip(IDX_FILES.values(), (47_040_016, 60_008, 7_840_016, 10_008), strict=True))
_MAGIC = {"labels": 0x00000801, "images": 0x00000803}


@contextlib.contextmanager
def open_content(path: Path) -> Iterator[BinaryIO]:
    """A file as a stream, gunzipped if gzip (by magic, not name); read in pieces, so no gzip bomb fills memory."""
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
    """Decode one uint8 IDX file (.gz or plain), exactly well-formed (idx1 in the name: labels, idx3: images); no more
    is read than the header declares, then a probe that nothing follows (a gzip bomb stops there)."""
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


def read_idx_folder(raw_dir: str | os.PathLike[str]) -> Digits:
    """The four MNIST IDX files of torchvision's <data>/MNIST/raw layout (.gz or decompressed), checked."""
    raw_dir = Path(raw_dir)
    found, missing = idx_paths(raw_dir)
    if missing:
        raise DataError(f"{raw_dir}: missing MNIST IDX file(s) {', '.join(missing)}")
    digits = {key: read_idx(path) for key, path in found.items()}
    digits.update(train_labels=digits["train_labels"].long(), test_labels=digits["test_labels"].long())
    return check_digits(digits, {key: str(path) for key, path in found.items()})


def _present(raw_dir: Path, name: str) -> bool:
    """True when raw_dir already holds `name` (plain, else .gz) with the canonical content."""
    with contextlib.suppress(DataError):
        return any(c.is_file() and content_md5(c, name) == MD5[name] for c in (raw_dir / name, raw_dir / f"{name}.gz"))
    return False


def _find_in_mirror(mirror: Path, name: str) -> Path:
    """The mirror's `name`, gzipped or not, at its top or in torchvision's MNIST/raw layout."""
    found = [c for top in (mirror, mirror / "MNIST" / "raw") for c in (top / f"{name}.gz", top / name) if c.is_file()]
    if not found:
        raise DataError(f"{mirror}: mirror has no {name}.gz or {name}")
    return found[0]


def copy_from_mirror(mirror: str | os.PathLike[str], data_dir: str | os.PathLike[str]) -> Path:
    """Copy the 4 MNIST files from a mirror into <data_dir>/MNIST/raw, decompressed (as torchvision leaves them),
    verified by md5, all or nothing; a file already there with the right md5 is not copied again."""
    mirror, raw_dir = Path(mirror), Path(data_dir) / "MNIST" / "raw"
    if not mirror.is_dir():
        why = "is a file, not a folder" if mirror.exists() else "folder does not exist"
        raise DataError(f"{mirror}: MNIST mirror {why}")
    todo = [(name, _find_in_mirror(mirror, name)) for name in MD5 if not _present(raw_dir, name)]
    with contextlib.ExitStack() as stack:  # every file staged first, renamed into place only if all verify
        for name, src in todo:
            got = content_md5(src, name, copy_to=stack.enter_context(atomic_path(raw_dir / name)))
            if got != MD5[name]:
                raise DataError(f"{src}: md5 of the decompressed content is {got}, expected {MD5[name]} for {name}; "
                                "nothing was copied")
    return raw_dir


def download(data_dir: str | os.PathLike[str]) -> Path:
    """Download MNIST with torchvision into <data_dir>/MNIST/raw (returned), staged and verified like a mirror, so a
    failure leaves nothing; not again when the four files are there and verified."""
    import torchvision  # heavy; only this path needs it

    data_dir = Path(data_dir)
    raw_dir = data_dir / "MNIST" / "raw"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not all(_present(raw_dir, name) for name in MD5):
        with tempfile.TemporaryDirectory(prefix=".download-", dir=data_dir) as staging:
            try:
                for train in (True, False):
                    torchvision.datasets.MNIST(root=staging, train=train, download=True)
            except Exception as exc:  # URLError, RuntimeError, OSError, ... all mean "no MNIST from the net"
                raise DataError(f"could not download MNIST into {raw_dir} (offline?): {exc}") from exc
            copy_from_mirror(staging, data_dir)
    return raw_dir
