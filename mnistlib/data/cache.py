"""Decoded tensors cached under <data>/cache/, keyed on the content of the inputs (never on their mtimes)."""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mnistlib.data.arrays import TENSOR_KEYS, DataError, MnistArrays, check_split
from mnistlib.data.course import folder_files
from mnistlib.io import atomic_path, unloadable

CACHE_VERSION = 2  # 2: keyed on content (1 was keyed on mtimes)
_DTYPES = {key: torch.int64 if key.endswith("labels") else torch.uint8 for key in TENSOR_KEYS}


def content_signature(inputs: list[Path]) -> dict[str, Any]:
    """The cache key: SHA-256 over every byte of the inputs (a folder's files with their relative paths), never mtimes,
    so a renamed, added or edited file changes it even after `cp -p`; far cheaper than decoding again."""
    digest = hashlib.sha256()
    for root in inputs:
        for p in folder_files(root) if root.is_dir() else [root]:  # the files a course folder is read from
            rel = p.relative_to(root).as_posix() if root.is_dir() else p.name
            try:
                with open(p, "rb") as handle:
                    digest.update(f"{root.name}/{rel}\0{os.fstat(handle.fileno()).st_size}\0".encode())
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)
            except OSError as exc:
                raise DataError(f"{p}: cannot read ({exc.strerror or exc})") from exc
    return {"inputs": [root.name for root in inputs], "sha256": digest.hexdigest()}


def load_cache(cache_file: Path, signature: dict[str, Any], verbose: bool) -> dict[str, torch.Tensor] | None:
    """Tensors from the cache if it exists, is intact and matches the inputs; else None."""
    if not cache_file.is_file():
        return None
    try:
        obj = torch.load(cache_file, map_location="cpu", weights_only=True)
        ok = isinstance(obj, dict) and obj.get("version") == CACHE_VERSION
        ok = ok and all(isinstance(obj.get(k), torch.Tensor) and obj[k].dtype == dtype for k, dtype in _DTYPES.items())
        if ok:
            for split in ("train", "test"):
                check_split(obj[f"{split}_images"], obj[f"{split}_labels"], str(cache_file), str(cache_file))
    except Exception as exc:  # truncated/corrupt pickles raise many types
        why = f"cache {cache_file} is unreadable ({unloadable(exc)})"
    else:
        if ok and obj.get("signature") == signature:
            return {k: obj[k] for k in TENSOR_KEYS}
        why = f"inputs changed since {cache_file} was written" if ok else f"cache {cache_file} has an unexpected layout"
    if verbose:
        print(f"mnistlib: {why}; rebuilding it", file=sys.stderr)
    return None


def cached(kind: str, data_dir: Path, inputs: list[Path], build: Callable[[], MnistArrays], cache: bool,
           verbose: bool) -> MnistArrays:
    """build() once, then serve decoded tensors from <data>/cache/<kind>.pt while the inputs are unchanged."""
    if not cache:
        return build()
    cache_file, signature = data_dir / "cache" / f"{kind}.pt", content_signature(inputs)
    if (tensors := load_cache(cache_file, signature, verbose)) is not None:
        if verbose:
            print(f"mnistlib: using cached tensors {cache_file}", file=sys.stderr)
        return MnistArrays(**tensors, source=kind, origin="")
    arrays = build()
    try:
        with atomic_path(cache_file) as tmp:
            torch.save({"version": CACHE_VERSION, "signature": signature,
                        **{k: getattr(arrays, k).contiguous() for k in TENSOR_KEYS}}, tmp)
    except OSError as exc:  # a read-only data folder must not stop training
        warnings.warn(f"mnistlib: could not write cache {cache_file}: {exc}", stacklevel=3)
    return arrays
