"""Decoded tensors cached in <data>/cache/<kind>.pt, keyed on every byte of the inputs, never on their mtimes: the
course's PNG archives take seconds to decode, and every notebook loads the data."""

from __future__ import annotations

import hashlib
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from mnistfiles.course import folder_files
from mnistfiles.digits import TENSOR_KEYS, DataError, Digits, check_digits
from mnistfiles.io import atomic_path, unloadable

CACHE_VERSION = 3  # 2: keyed on content (1: on mtimes); 3: one SHA-256 per file


def content_signature(inputs: list[Path]) -> str:
    """SHA-256 over each input file's path and SHA-256 (a folder's files at any depth): a renamed, added or edited
    file changes it, even with its size and mtime kept (`cp -p`); hashing costs far less than decoding."""
    digest = hashlib.sha256()
    for root in inputs:
        for path in folder_files(root) if root.is_dir() else [root]:
            try:
                with open(path, "rb") as handle:
                    content = hashlib.file_digest(handle, "sha256").hexdigest()
            except OSError as exc:
                raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
            digest.update(f"{root.name}/{path.relative_to(root).as_posix()}\0{content}\0".encode())
    return digest.hexdigest()


def _load(cache_file: Path, signature: str) -> Digits:
    """The cached tensors, or a DataError saying why they cannot be trusted."""
    try:
        obj = torch.load(cache_file, map_location="cpu", weights_only=True)
    except Exception as exc:  # cut or corrupt files raise many types
        raise DataError(f"cache {cache_file} is unreadable ({unloadable(exc)})") from exc
    if not isinstance(obj, dict) or obj.get("version") != CACHE_VERSION or not all(
            isinstance(obj.get(key), torch.Tensor) for key in TENSOR_KEYS):
        raise DataError(f"cache {cache_file} has another layout or version")
    if obj.get("signature") != signature:
        raise DataError(f"inputs changed since {cache_file} was written")
    return check_digits({key: obj[key] for key in TENSOR_KEYS}, dict.fromkeys(TENSOR_KEYS, str(cache_file)))


def cached(kind: str, data_dir: Path, inputs: list[Path], build: Callable[[], Digits], cache: bool,
           verbose: bool) -> Digits:
    """build() once, then its tensors from <data>/cache/<kind>.pt while the inputs are unchanged."""
    if not cache:
        return build()
    cache_file, signature = data_dir / "cache" / f"{kind}.pt", content_signature(inputs)
    if cache_file.is_file():
        try:
            digits = _load(cache_file, signature)
        except DataError as exc:
            if verbose:
                print(f"mnistfiles: {exc}; rebuilding it", file=sys.stderr)
        else:
            if verbose:
                print(f"mnistfiles: using cached tensors {cache_file}", file=sys.stderr)
            return digits
    digits = build()
    try:
        with atomic_path(cache_file) as tmp:
            torch.save({"version": CACHE_VERSION, "signature": signature,
                        **{key: digits[key].contiguous() for key in TENSOR_KEYS}}, tmp)
    except OSError as exc:  # a read-only data folder must not stop training
        warnings.warn(f"mnistfiles: could not write cache {cache_file}: {exc}", stacklevel=3)
    return digits
