"""The course's format: "{id}_{label}.png" files in a folder or a tar (a .tar.gz too), read whole or refused."""

from __future__ import annotations

import io
import os
import re
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mnistfiles.digits import DataError, Digits

_PNG_NAME = re.compile(r"^(?P<id>.+)_(?P<label>[^_]*)\.png$", re.IGNORECASE)
_MAX_PNG = 1 << 20  # bytes read of a digit image at most: a 28x28 PNG takes under 1 KiB, a larger file is refused


def _parse_name(name: str, where: str) -> tuple[str, int] | None:
    """(id, label) of "{id}_{label}.png"; None for no digit image: not a PNG, hidden, or in a hidden folder."""
    parts = name.replace("\\", "/").split("/")
    if any(part.startswith(".") and part not in (".", "..") for part in parts) or not name.lower().endswith(".png"):
        return None
    match = _PNG_NAME.match(parts[-1])
    if match is None or not match["label"]:
        raise DataError(f"{where}: file name has no label (expected '{{id}}_{{label}}.png')")
    if not (match["label"].isascii() and match["label"].isdigit() and 0 <= int(match["label"]) <= 9):
        raise DataError(f"{where}: label {match['label']} outside 0-9 (expected '{{id}}_{{label}}.png')")
    return match["id"], int(match["label"])


def _decode_png(blob: bytes, where: str) -> np.ndarray:
    """A 28x28 grayscale PNG as uint8 [28,28]; anything else is a DataError naming the file."""
    if len(blob) > _MAX_PNG:
        raise DataError(f"{where}: over {_MAX_PNG >> 20} MiB, too large for a 28x28 PNG (not read further)")
    try:
        with Image.open(io.BytesIO(blob)) as img:
            img.load()
            kind, mode, (width, height), pixels = img.format, img.mode, img.size, np.asarray(img, dtype=np.uint8)
    except Exception as exc:  # PIL raises many types for broken files
        raise DataError(f"{where}: PNG does not decode ({type(exc).__name__}: {exc})") from exc
    if kind != "PNG":
        raise DataError(f"{where}: not a PNG (it is {kind})")
    if mode != "L" or (width, height) != (28, 28):
        raise DataError(f"{where}: image is {width}x{height} mode {mode!r}, expected 28x28 grayscale (mode 'L')")
    return pixels


def folder_files(folder: Path) -> list[Path]:
    """The files under a folder at any depth, sorted; a symbolic link is refused, as in a tar (hard links are files)."""
    entries = sorted(folder.rglob("*"))
    if link := next((entry for entry in entries if entry.is_symlink()), None):
        raise DataError(f"{link}: symbolic link in a data folder (copy the file or folder it points to instead)")
    return [entry for entry in entries if entry.is_file()]


class _WholeTarInfo(tarfile.TarInfo):
    """tarfile takes a cut or garbled header for the end of the archive and stops quietly; this refuses it."""

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tar)
        except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError, tarfile.InvalidHeaderError) as exc:
            raise tarfile.ReadError(f"it is cut short or damaged at byte {tar.offset:,} ({exc})") from None


def _read_pngs(path: Path) -> Iterator[tuple[str, tuple[str, int], np.ndarray]]:
    """(where, (id, label), image) of each digit image in a folder or tar at any depth, by the same rules; a tar is
    read to its end (a .tar.gz to its checksum) or refused."""
    if path.is_dir():
        for file in folder_files(path):
            if parsed := _parse_name(file.relative_to(path).as_posix(), str(file)):
                with open(file, "rb") as handle:
                    yield str(file), parsed, _decode_png(handle.read(_MAX_PNG + 1), str(file))
        return
    try:
        with tarfile.open(path, "r:*", tarinfo=_WholeTarInfo) as tar:
            for member in tar:
                where = f"{path}:{member.name}"
                if member.issym():
                    raise DataError(f"{where}: symbolic link in a tar archive (store the file it points to instead)")
                if (member.isfile() or member.islnk()) and (parsed := _parse_name(member.name, where)):
                    blob = tar.extractfile(member).read(_MAX_PNG + 1)  # a hard link reads its target's content
                    yield where, parsed, _decode_png(blob, where)
            while tar.fileobj.read(1 << 20):  # the rest: a compressed archive's checksum is checked at its end
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error, KeyError) as exc:
        raise DataError(f"{path}: not a complete, readable tar archive ({' '.join(str(exc).split())})") from exc


def read_png_archive(path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode a course archive (a .tar or .tar.gz, read in place, or a folder) of "{id}_{label}.png", sorted by id:
    numeric ids as numbers (2 before 10; 00002 is 2), anything else after them as text."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such tar file or folder")
    found: dict[tuple[int, int, str], tuple[str, np.ndarray, int]] = {}  # sort key -> (where, image, label)
    for where, (ident, label), image in _read_pngs(path):
        key = (0, int(ident), "") if ident.isascii() and ident.isdigit() else (1, 0, ident)
        if key in found:
            raise DataError(f"{where}: duplicate id {ident!r} (also in {found[key][0]})")
        found[key] = (where, image, label)
    if not found:
        raise DataError(f"{path}: empty {'folder' if path.is_dir() else 'tar archive'}: no {{id}}_{{label}}.png files")
    _, images, labels = zip(*(found[key] for key in sorted(found)), strict=True)
    return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)


def course_inputs(data_dir: Path, required: bool = False) -> dict[str, Path] | None:
    """train/test archives in data_dir (train.tar, else .tar.gz, else a train/ folder; test likewise); None if there is
    neither (a DataError when `required`); one without the other is a DataError."""
    found = {split: next((c for c in (data_dir / f"{split}.tar", data_dir / f"{split}.tar.gz", data_dir / split)
                          if c.exists()), None) for split in ("train", "test")}
    if (have := found["train"] or found["test"]) and not (found["train"] and found["test"]):
        lack = "test" if found["train"] else "train"
        raise DataError(f"{data_dir}: course data has {have.name} but no {lack}.tar, {lack}.tar.gz or {lack}/")
    if not have and required:
        raise DataError(f"{data_dir}: no course data (looked for train.tar or train/ and test.tar or test/; .tar.gz)")
    return found if have else None


def read_course(data_dir: str | os.PathLike[str]) -> Digits:
    """The course layout: <data_dir>/train.tar + test.tar (or .tar.gz), or train/ + test/ folders of PNGs."""
    inputs = course_inputs(Path(data_dir), required=True)
    (train_images, train_labels), (test_images, test_labels) = map(read_png_archive, (inputs["train"], inputs["test"]))
    return {"train_images": train_images, "train_labels": train_labels, "test_images": test_images,
            "test_labels": test_labels}
