"""A local mirror of the four IDX files, and a download through torchvision: both verified by md5, all or nothing."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from mnistlib.data.arrays import DataError, MnistArrays
from mnistlib.data.idx import MD5, content_md5, load_idx_folder
from mnistlib.io import atomic_path


def present_and_correct(raw_dir: Path, name: str) -> bool:
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
    """Copy the 4 MNIST files from a mirror into <data_dir>/MNIST/raw, verified by md5, all or nothing; decompressed
    (as torchvision leaves them), skipped if already there with the right md5."""
    mirror, raw_dir = Path(mirror), Path(data_dir) / "MNIST" / "raw"
    if not mirror.is_dir():
        why = "is a file, not a folder" if mirror.exists() else "folder does not exist"
        raise DataError(f"{mirror}: MNIST mirror {why}")
    todo = [(name, _find_in_mirror(mirror, name)) for name in MD5 if not present_and_correct(raw_dir, name)]
    with contextlib.ExitStack() as stack:  # every file staged first, renamed into place only if all verify
        for name, src in todo:
            got = content_md5(src, name, copy_to=stack.enter_context(atomic_path(raw_dir / name)))
            if got != MD5[name]:
                raise DataError(f"{src}: md5 of the decompressed content is {got}, expected {MD5[name]} for {name}; "
                                "nothing was copied")
    return raw_dir


def download(data_dir: str | os.PathLike[str]) -> MnistArrays:
    """Download MNIST with torchvision into <data_dir>/MNIST/raw, staged so a failure leaves nothing; not again when
    the four files are there and verified."""
    import torchvision  # heavy; only this path needs it

    data_dir = Path(data_dir)
    raw_dir = data_dir / "MNIST" / "raw"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not all(present_and_correct(raw_dir, name) for name in MD5):
        with tempfile.TemporaryDirectory(prefix=".download-", dir=data_dir) as staging:
            try:
                for train in (True, False):
                    torchvision.datasets.MNIST(root=staging, train=train, download=True)
            except Exception as exc:  # URLError, RuntimeError, OSError, ... all mean "no MNIST from the net"
                raise DataError(f"could not download MNIST into {raw_dir} (offline?): {exc}") from exc
            copy_from_mirror(staging, data_dir)  # the staged download, verified and moved in like a mirror
    arrays = load_idx_folder(raw_dir)
    arrays.source = "download"
    return arrays
