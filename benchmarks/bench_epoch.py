"""Time one LeNet-5 epoch (train + test) through four input pipelines, side by side, in one run.

Pipelines (same initial weights, same shuffle order, same optimiser: SGD lr 0.01 momentum 0.9, CrossEntropyLoss):

- template:    "{id}_{label}.png" files, each opened and decoded with PIL in `Dataset.__getitem__`, DataLoader
               with no workers, ToTensor + Normalize, model in the default (contiguous) memory format.
- torchvision: `torchvision.datasets.MNIST(download=False)` over the IDX files, ToTensor + Normalize, DataLoader
               with no workers, contiguous model.
- plain:       decoded float tensors in memory, batches sliced from a permutation, contiguous model, a
               hand-written loop with `loss.item()` per batch and `torch.no_grad()` evaluation.
- mnistlib:    mnistlib's fast path as `fit` runs it: uint8 `TensorBatches` normalised per batch on the device,
               `mnistlib.training.train`/`test`, model in channels_last.

Every pipeline first runs a short warm-up (a few batches, not timed, weights restored afterwards), then
`--epochs` timed epochs; the first timed epoch and the mean of the later ones (steady state) are both reported.
All pipelines are timed once per round, for `--rounds` interleaved rounds, and the median round counts: on a
shared machine an epoch's time drifts by a third within minutes, and interleaving spreads that drift evenly.
With `--max-batches N` only N training and N test batches are timed and the epoch time is extrapolated
(marked in the table). Results go to a new file, benchmarks/results-<device>-<machine>-<date>.json, written
atomically: a committed result is never overwritten (README's Performance block is generated from these files).

    python benchmarks/bench_epoch.py                      # full epochs, batch 64 and 256, every device present
    python benchmarks/bench_epoch.py --max-batches 200    # extrapolated from 200 batches per phase
    python benchmarks/bench_epoch.py --quick              # smoke test: a few batches on a small subset
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import itertools
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from mnistfiles.io import atomic_path, unused_path, write_json
from mnistlib import paths
from mnistlib.data import MEAN, STD, MnistArrays, TensorBatches, load_mnist
from mnistlib.data.batches import epoch_order, normalise
from mnistlib.models import LeNet5
from mnistlib.training import EVAL_BATCH, prepare_model
from mnistlib.training import test as mnistlib_test
from mnistlib.training import train as mnistlib_train

PIPELINES = ("template", "torchvision", "plain", "mnistlib")
BENCH_DIR = Path(__file__).resolve().parent
LR, MOMENTUM = 0.01, 0.9
_PNG_NAME = re.compile(r"^(?P<id>\d+)_(?P<label>\d)\.png$")


# --------------------------------------------------------------------------------------------------
# Data preparation (not timed)


def data_tag(data: MnistArrays) -> str:
    """A folder name that changes whenever the images or labels do: sizes plus a content hash."""
    digest = hashlib.md5(usedforsecurity=False)
    for t in (data.train_images, data.train_labels, data.test_images, data.test_labels):
        digest.update(t.contiguous().numpy().tobytes())
    return f"{data.n_train}-{data.n_test}-{digest.hexdigest()[:10]}"


def write_pngs(images: torch.Tensor, labels: torch.Tensor, folder: Path) -> int:
    """Write image i as folder/"{i}_{label}.png", each file atomically; files already there are kept.

    Returns how many files were written (0 when the folder was complete).
    """
    folder.mkdir(parents=True, exist_ok=True)
    present = set(os.listdir(folder))
    pixels = images.numpy()
    written = 0
    for i, label in enumerate(labels.tolist()):
        name = f"{i}_{label}.png"
        if name in present:
            continue
        tmp = folder / f".{name}.tmp"  # renamed into place: a killed run leaves no half-written PNG under its name
        Image.fromarray(pixels[i]).save(tmp, format="PNG")  # (not atomic_path: its stale-file scan of the folder
        os.replace(tmp, folder / name)  # on every one of 70,000 files made the first run quadratic)
        written += 1
    return written


def write_idx(images: torch.Tensor, labels: torch.Tensor, raw_dir: Path, prefix: str) -> None:
    """Write one split as uncompressed IDX files (torchvision's raw layout), atomically."""
    for suffix, tensor, magic in (("images-idx3-ubyte", images, 0x803), ("labels-idx1-ubyte", labels, 0x801)):
        array = tensor.numpy().astype(np.uint8)
        header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
        with atomic_path(raw_dir / f"{prefix}-{suffix}") as tmp:
            tmp.write_bytes(header + array.tobytes())


def torchvision_root(data: MnistArrays, data_dir: Path, tag: str) -> Path:
    """A root whose MNIST/raw holds exactly `data` as IDX files: data/ itself for full MNIST, else a copy."""
    import torchvision

    if data.full and (data.n_train, data.n_test) == (60_000, 10_000):
        try:
            ds = torchvision.datasets.MNIST(root=str(data_dir), train=False, download=False)
            if torch.equal(ds.data, data.test_images):
                return data_dir
        except RuntimeError:  # torchvision did not find its files there
            pass
    root = data_dir / "bench_idx" / tag
    raw = root / "MNIST" / "raw"
    if not (raw / "t10k-labels-idx1-ubyte").is_file():
        write_idx(data.train_images, data.train_labels, raw, "train")
        write_idx(data.test_images, data.test_labels, raw, "t10k")
    return root


def subset(data: MnistArrays, n_train: int | None) -> MnistArrays:
    """The first n_train training images and n_train/6 test images (MNIST's 6:1 ratio); all when None."""
    if n_train is None or n_train >= data.n_train:
        return data
    n_test = max(1, min(data.n_test, n_train // 6))
    return MnistArrays(
        data.train_images[:n_train], data.train_labels[:n_train],
        data.test_images[:n_test], data.test_labels[:n_test],
        source=data.source, origin=f"{data.origin} (first {n_train} train / {n_test} test)",
    )


# --------------------------------------------------------------------------------------------------
# The template's per-item PNG dataset


class PngDigits(torch.utils.data.Dataset):
    """The template's Dataset: lists "{id}_{label}.png" once, then opens and decodes one PNG per item."""

    def __init__(self, folder: str | os.PathLike[str], transform: Callable[[Image.Image], torch.Tensor]) -> None:
        folder = Path(folder)
        entries = []
        for name in os.listdir(folder):
            match = _PNG_NAME.match(name)
            if match:
                entries.append((int(match["id"]), int(match["label"]), name))
        entries.sort()
        self.paths = [folder / name for _, _, name in entries]
        self.labels = [label for _, label, _ in entries]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.paths[i]) as img:
            return self.transform(img), self.labels[i]


def to_tensor_normalize() -> Callable[[Any], torch.Tensor]:
    """The template's transform: ToTensor (scale to [0,1]) then Normalize with MNIST's mean and std."""
    from torchvision import transforms

    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])


# --------------------------------------------------------------------------------------------------
# Pipelines


def limited(batches: Iterable, max_batches: int | None) -> Iterable:
    """The first max_batches batches (all of them when None)."""
    return batches if max_batches is None else _Limited(batches, max_batches)


class _Limited:
    def __init__(self, batches: Iterable, n: int) -> None:
        self.batches, self.n = batches, n

    def __iter__(self) -> Iterator:
        return itertools.islice(iter(self.batches), self.n)


@dataclass(frozen=True)
class InputFiles:
    """Where the file-based pipelines read from: PNG folders (train, test) and a torchvision root."""

    png_train: Path | None = None
    png_test: Path | None = None
    torchvision_root: Path | None = None


class Pipeline:
    """One way to feed and run LeNet-5; subclasses say how batches are made and how an epoch runs."""

    name = ""
    what = ""

    def __init__(
        self,
        data: MnistArrays,
        device: torch.device,
        batch_size: int,
        seed: int = 0,
        eval_batch: int | None = None,
        files: InputFiles | None = None,
    ) -> None:
        self.data, self.device, self.batch_size, self.seed = data, device, batch_size, seed
        self.eval_batch = eval_batch or batch_size
        self.eval_batch_given = eval_batch
        self.files = files or InputFiles()

    def prepare(self, model: nn.Module) -> nn.Module:
        """Put the model on the device in this pipeline's memory format."""
        return model.to(self.device)

    def n_batches(self) -> tuple[int, int]:
        return -(-self.data.n_train // self.batch_size), -(-self.data.n_test // self.eval_batch)

    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module, epoch: int,
        max_batches: int | None,
    ) -> tuple[float, float]:
        raise NotImplementedError

    def evaluate(self, model: nn.Module, criterion: nn.Module, max_batches: int | None) -> tuple[float, float]:
        raise NotImplementedError


class _LoaderPipeline(Pipeline):
    """A Dataset + DataLoader (no workers) run through the template-API train/test."""

    def datasets(self) -> tuple[torch.utils.data.Dataset, torch.utils.data.Dataset]:
        raise NotImplementedError

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.train_set, self.test_set = self.datasets()
        if (len(self.train_set), len(self.test_set)) != (self.data.n_train, self.data.n_test):
            raise RuntimeError(
                f"{self.name}: dataset has {len(self.train_set)}/{len(self.test_set)} images, "
                f"expected {self.data.n_train}/{self.data.n_test}"
            )

    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module, epoch: int,
        max_batches: int | None,
    ) -> tuple[float, float]:
        order = epoch_order(self.data.n_train, self.seed, epoch).tolist()  # TensorBatches' shuffle for this epoch
        loader = torch.utils.data.DataLoader(self.train_set, batch_size=self.batch_size, sampler=order)
        return mnistlib_train(model, limited(loader, max_batches), self.device, criterion, optimizer)

    def evaluate(self, model: nn.Module, criterion: nn.Module, max_batches: int | None) -> tuple[float, float]:
        loader = torch.utils.data.DataLoader(self.test_set, batch_size=self.eval_batch, shuffle=False)
        return mnistlib_test(model, limited(loader, max_batches), self.device, criterion)


class TemplatePipeline(_LoaderPipeline):
    name = "template"
    what = "PNG per item via PIL, DataLoader(num_workers=0), contiguous"

    def datasets(self) -> tuple[torch.utils.data.Dataset, torch.utils.data.Dataset]:
        if self.files.png_train is None or self.files.png_test is None:
            raise ValueError("template pipeline: no PNG folders given (see prepare_inputs)")
        transform = to_tensor_normalize()
        return PngDigits(self.files.png_train, transform), PngDigits(self.files.png_test, transform)


class TorchvisionPipeline(_LoaderPipeline):
    name = "torchvision"
    what = "torchvision.datasets.MNIST, DataLoader(num_workers=0), contiguous"

    def datasets(self) -> tuple[torch.utils.data.Dataset, torch.utils.data.Dataset]:
        from torchvision import datasets

        root = self.files.torchvision_root
        if root is None:
            raise ValueError("torchvision pipeline: no root given (see prepare_inputs)")
        transform = to_tensor_normalize()
        return (
            datasets.MNIST(root=str(root), train=True, download=False, transform=transform),
            datasets.MNIST(root=str(root), train=False, download=False, transform=transform),
        )


class PlainPipeline(Pipeline):
    name = "plain"
    what = "float tensors in memory, permutation slices, eager loop, contiguous, no_grad eval"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Normalised once, up front, as the library normalises each batch; then kept as floats on the device.
        self.train_x = normalise(self.data.train_images).to(self.device)
        self.train_y = self.data.train_labels.to(self.device)
        self.test_x = normalise(self.data.test_images).to(self.device)
        self.test_y = self.data.test_labels.to(self.device)

    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module, epoch: int,
        max_batches: int | None,
    ) -> tuple[float, float]:
        model.train()
        order = epoch_order(self.data.n_train, self.seed, epoch).to(self.device)
        total_loss, correct, seen = 0.0, 0, 0
        for k, start in enumerate(range(0, self.data.n_train, self.batch_size)):
            if max_batches is not None and k >= max_batches:
                break
            idx = order[start : start + self.batch_size]
            images, labels = self.train_x[idx], self.train_y[idx]
            optimizer.zero_grad()
            logits = model(images)
            loss = criterion(logits, labels)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * labels.numel()
            correct += (logits.argmax(1) == labels).sum().item()
            seen += labels.numel()
        return total_loss / seen, correct / seen

    def evaluate(self, model: nn.Module, criterion: nn.Module, max_batches: int | None) -> tuple[float, float]:
        model.eval()
        total_loss, correct, seen = 0.0, 0, 0
        with torch.no_grad():
            for k, start in enumerate(range(0, self.data.n_test, self.eval_batch)):
                if max_batches is not None and k >= max_batches:
                    break
                images = self.test_x[start : start + self.eval_batch]
                labels = self.test_y[start : start + self.eval_batch]
                logits = model(images)
                total_loss += criterion(logits, labels).item() * labels.numel()
                correct += (logits.argmax(1) == labels).sum().item()
                seen += labels.numel()
        return total_loss / seen, correct / seen


class MnistlibPipeline(Pipeline):
    name = "mnistlib"
    what = "uint8 TensorBatches on the device + mnistlib train/test, channels_last (as fit)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        d = self.data
        self.train_batches = TensorBatches(
            d.train_images, d.train_labels, self.batch_size, shuffle=True, device=self.device, seed=self.seed
        )
        # fit evaluates at EVAL_BATCH unless the benchmark is told otherwise
        self.test_batches = TensorBatches(
            d.test_images, d.test_labels, self.eval_batch_given or EVAL_BATCH, device=self.device
        )

    def prepare(self, model: nn.Module) -> nn.Module:
        return prepare_model(model, self.device)

    def train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module, epoch: int,
        max_batches: int | None,
    ) -> tuple[float, float]:
        self.train_batches.set_epoch(epoch)
        return mnistlib_train(model, limited(self.train_batches, max_batches), self.device, criterion, optimizer)

    def evaluate(self, model: nn.Module, criterion: nn.Module, max_batches: int | None) -> tuple[float, float]:
        return mnistlib_test(model, limited(self.test_batches, max_batches), self.device, criterion)


PIPELINE_CLASSES: dict[str, type[Pipeline]] = {
    cls.name: cls for cls in (TemplatePipeline, TorchvisionPipeline, PlainPipeline, MnistlibPipeline)
}


# --------------------------------------------------------------------------------------------------
# Timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def initial_state(seed: int) -> dict[str, torch.Tensor]:
    """LeNet-5's initial weights for this seed, shared by every pipeline."""
    torch.manual_seed(seed)
    return copy.deepcopy(LeNet5().state_dict())


def fresh_model(pipeline: Pipeline, state: dict[str, torch.Tensor]) -> tuple[nn.Module, torch.optim.Optimizer]:
    """LeNet-5 with the given weights, prepared by the pipeline, and a new SGD optimiser."""
    model = LeNet5()
    model.load_state_dict(state)
    model = pipeline.prepare(model)
    return model, torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)


def first_batch_loss(pipeline: Pipeline, state: dict[str, torch.Tensor], epoch: int = 1) -> float:
    """The training loss of the first batch of `epoch`, from the given weights (before any step)."""
    model, optimizer = fresh_model(pipeline, state)
    loss, _ = pipeline.train_epoch(model, optimizer, nn.CrossEntropyLoss(), epoch, max_batches=1)
    return loss


@dataclass
class Row:
    """One pipeline at one device and batch size."""

    pipeline: str
    device: str
    batch_size: int
    eval_batch_size: int
    what: str
    extrapolated: bool
    batches_timed: int | None
    warmup_s: float
    epochs: list[dict[str, float]] = field(default_factory=list)
    first_epoch_s: float = 0.0
    steady_epoch_s: float | None = None
    seconds_per_epoch: float = 0.0
    images_per_s: float = 0.0
    x_vs_template: float | None = None
    x_vs_plain: float | None = None
    train_loss: float = 0.0
    train_acc: float = 0.0
    test_loss: float = 0.0
    test_acc: float = 0.0
    round_s: list[float] = field(default_factory=list)  # s/epoch in each round; seconds_per_epoch is their median


def time_pipeline(
    pipeline: Pipeline, state: dict[str, torch.Tensor], epochs: int, max_batches: int | None, warmup_batches: int
) -> Row:
    """Warm up (untimed, weights restored), then time `epochs` epochs of train + test."""
    device = pipeline.device
    criterion = nn.CrossEntropyLoss()
    model, optimizer = fresh_model(pipeline, state)
    start = time.perf_counter()
    if warmup_batches:
        pipeline.train_epoch(model, optimizer, criterion, epoch=0, max_batches=warmup_batches)
        pipeline.evaluate(model, criterion, max_batches=max(1, warmup_batches // 2))
        _sync(device)
    warmup_s = time.perf_counter() - start
    model.load_state_dict(state)  # copies in place: parameters keep their identity and memory format
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    n_train, n_test = pipeline.n_batches()
    timed_train = n_train if max_batches is None else min(max_batches, n_train)
    timed_test = n_test if max_batches is None else min(max_batches, n_test)
    row = Row(
        pipeline.name, str(device), pipeline.batch_size, pipeline.eval_batch, pipeline.what,
        extrapolated=timed_train < n_train or timed_test < n_test,
        batches_timed=max_batches, warmup_s=warmup_s,
    )
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        row.train_loss, row.train_acc = pipeline.train_epoch(model, optimizer, criterion, epoch, max_batches)
        _sync(device)
        t1 = time.perf_counter()
        row.test_loss, row.test_acc = pipeline.evaluate(model, criterion, max_batches)
        _sync(device)
        t2 = time.perf_counter()
        train_s = (t1 - t0) * n_train / timed_train
        test_s = (t2 - t1) * n_test / timed_test
        row.epochs.append({"epoch": epoch, "train_s": train_s, "test_s": test_s, "total_s": train_s + test_s})
    row.first_epoch_s = row.epochs[0]["total_s"]
    if len(row.epochs) > 1:
        row.steady_epoch_s = float(np.mean([e["total_s"] for e in row.epochs[1:]]))
    row.seconds_per_epoch = row.steady_epoch_s if row.steady_epoch_s is not None else row.first_epoch_s
    row.images_per_s = (pipeline.data.n_train + pipeline.data.n_test) / row.seconds_per_epoch
    return row


def median_row(rounds: Sequence[Row]) -> Row:
    """The round with the median s/epoch (the lower middle one for an even count), listing every round's time.

    This machine is shared: one pipeline's epoch time moves by 30% from minute to minute. Timing every pipeline
    once per round, rounds interleaved, and keeping the median puts the noise on all pipelines alike.
    """
    ordered = sorted(rounds, key=lambda r: r.seconds_per_epoch)
    row = copy.copy(ordered[(len(ordered) - 1) // 2])
    row.round_s = [r.seconds_per_epoch for r in rounds]
    return row


def add_ratios(rows: list[Row]) -> None:
    """x faster than the template and than the plain loop, within each device and batch size."""
    for row in rows:
        peers = {r.pipeline: r for r in rows if (r.device, r.batch_size) == (row.device, row.batch_size)}
        if "template" in peers:
            row.x_vs_template = peers["template"].seconds_per_epoch / row.seconds_per_epoch
        if "plain" in peers:
            row.x_vs_plain = peers["plain"].seconds_per_epoch / row.seconds_per_epoch


# --------------------------------------------------------------------------------------------------
# Report


def machine_info(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torchvision

    info: dict[str, Any] = {
        "cpu": cpu,
        "cores_online": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def result_path(folder: Path, device: str, machine: dict[str, Any], started: str) -> Path:
    """A file of its own for each run, results-<device>-<machine>-<date>.json (-2, -3, ... on the same day): results
    measured elsewhere or earlier, committed ones included, are never overwritten."""
    what = machine.get("gpu") or f"{machine['cpu']} {machine['cores_usable']}cores"
    return unused_path(folder, f"results-{device}-{re.sub(r'[^a-z0-9]+', '-', what.lower()).strip('-')}-{started[:10]}")


def _fmt_x(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def format_table(rows: Sequence[Row]) -> str:
    """The results as a fixed-width text table, with a footnote for extrapolated rows."""
    head = (
        f"{'pipeline':<12} {'device':<6} {'batch':>5} {'train s':>8} {'test s':>7} {'s/epoch':>8} "
        f"{'first s':>8} {'images/s':>9} {'vs template':>11} {'vs plain':>9} {'loss':>6} {'test acc':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        last = r.epochs[-1]
        mark = "*" if r.extrapolated else " "
        lines.append(
            f"{r.pipeline:<12} {r.device:<6} {r.batch_size:>5} {last['train_s']:>8.2f} {last['test_s']:>7.2f} "
            f"{r.seconds_per_epoch:>7.2f}{mark} {r.first_epoch_s:>8.2f} {r.images_per_s:>9,.0f} "
            f"{_fmt_x(r.x_vs_template):>11} {_fmt_x(r.x_vs_plain):>9} {r.train_loss:>6.4f} {r.test_acc:>8.2%}"
        )
    epochs = len(rows[0].epochs) if rows else 0
    n_rounds = len(rows[0].round_s) if rows else 1
    lines.append(
        "s/epoch = one training epoch + one evaluation pass (images/s counts both), median of "
        f"{n_rounds} interleaved rounds; "
        + ("steady state = mean of epochs 2.." if epochs > 1 else "one timed epoch per round")
        + "; first s = the first timed epoch (after an untimed warm-up); loss = training loss of the last epoch"
    )
    if any(r.extrapolated for r in rows):
        n = next(r.batches_timed for r in rows if r.extrapolated)
        lines.append(f"* extrapolated: only the first {n} training and {n} test batches were timed, then scaled")
    return "\n".join(lines)


def check_targets(rows: Sequence[Row]) -> list[str]:
    """The issue's targets at CPU batch 64: mnistlib >= 5x template and >= 1.5x the plain loop."""
    out = []
    for r in rows:
        if (r.pipeline, r.device, r.batch_size) != ("mnistlib", "cpu", 64):
            continue
        for ref, x, need in (("template", r.x_vs_template, 5.0), ("plain loop", r.x_vs_plain, 1.5)):
            if x is not None:
                verdict = "met" if x >= need else "NOT met"
                out.append(f"target cpu batch 64: mnistlib >= {need}x {ref}: {x:.2f}x, {verdict}")
    return out


# --------------------------------------------------------------------------------------------------
# Main


def present_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when available")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 256])
    p.add_argument("--eval-batch-size", type=int, default=None, help="default: the training batch size")
    p.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    p.add_argument("--epochs", type=int, default=1, help="timed epochs per pipeline and round (after a warm-up)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds over all pipelines; the median counts")
    p.add_argument("--max-batches", type=int, default=None, help="time only N batches per phase, extrapolate")
    p.add_argument("--warmup-batches", type=int, default=5)
    p.add_argument("--subset", type=int, default=None, help="use only the first N training images (N/6 test)")
    p.add_argument("--quick", action="store_true", help="smoke test: --max-batches 3 --epochs 1 --subset 2048")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--source", default="auto", help="mnistlib.data.load_mnist source (auto, idx, sample, ...)")
    p.add_argument("--data-dir", type=Path, default=None, help="default: mnistlib's data folder")
    p.add_argument("--json-dir", type=Path, default=BENCH_DIR, help="where results-<device>-<machine>-<date>.json go")
    args = p.parse_args(argv)
    if args.quick:
        args.max_batches = args.max_batches or 3
        args.epochs = 1
        args.rounds = 2
        args.warmup_batches = min(args.warmup_batches, 1)
        args.subset = args.subset or 2048
    if args.epochs < 1 or args.rounds < 1 or (args.max_batches is not None and args.max_batches < 1):
        p.error("--epochs and --max-batches must be >= 1")
    return args


def prepare_inputs(
    data: MnistArrays, data_dir: Path, pipelines: Sequence[str], log: Callable[[str], None] = print
) -> InputFiles:
    """Build the PNG folders and IDX root the file-based pipelines read (once; cached under data/)."""
    tag = data_tag(data)
    png_train = png_test = root = None
    if "template" in pipelines:
        start = time.perf_counter()
        png_train, png_test = data_dir / "bench_png" / tag / "train", data_dir / "bench_png" / tag / "test"
        written = write_pngs(data.train_images, data.train_labels, png_train)
        written += write_pngs(data.test_images, data.test_labels, png_test)
        took = time.perf_counter() - start
        log(f"PNG files: {png_train.parent} ({written:,} written in {took:.1f}s)" if written else
            f"PNG files: {png_train.parent} (cached)")
    if "torchvision" in pipelines:
        root = torchvision_root(data, data_dir, tag)
        log(f"torchvision root: {root}")
    return InputFiles(png_train, png_test, root)


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, list[Row]]:
    """Run every pipeline on every device and batch size; returns the rows per device."""
    if args.threads:
        torch.set_num_threads(args.threads)
    data_dir = args.data_dir or paths.data_dir()
    data = subset(load_mnist(data_dir, source=args.source, verbose=False), args.subset)
    log(f"data: {data.describe()}")
    files = prepare_inputs(data, data_dir, args.pipelines, log)
    state = initial_state(args.seed)
    results: dict[str, list[Row]] = {}
    for device_name in args.devices or present_devices():
        device = torch.device(device_name)
        rows: list[Row] = []
        for batch_size in args.batch_sizes:
            pipelines = [PIPELINE_CLASSES[name](data, device, batch_size, args.seed, args.eval_batch_size, files)
                         for name in args.pipelines]
            rounds: dict[str, list[Row]] = {p.name: [] for p in pipelines}
            for k in range(1, args.rounds + 1):
                for pipeline in pipelines:
                    row = time_pipeline(pipeline, state, args.epochs, args.max_batches, args.warmup_batches)
                    rounds[pipeline.name].append(row)
                    log(f"  round {k}/{args.rounds} {pipeline.name:<12} {device_name:<5} batch {batch_size:>4}: "
                        f"{row.seconds_per_epoch:7.2f} s/epoch" + (" (extrapolated)" if row.extrapolated else ""))
            rows.extend(median_row(rounds[p.name]) for p in pipelines)
        add_ratios(rows)
        results[device_name] = rows
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results = run(args, log=lambda msg: print(msg, flush=True))
    for device_name, rows in results.items():
        print()
        print(format_table(rows))
        for line in check_targets(rows):
            print(line)
        settings = {k: (paths.shown(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        payload = {
            "benchmark": "LeNet-5 epoch (SGD lr 0.01 momentum 0.9, CrossEntropyLoss): train + test",
            "started": started,
            "machine": machine_info(torch.device(device_name)),
            "settings": settings,
            "rows": [asdict(r) for r in rows],
            "targets": check_targets(rows),
        }
        path = result_path(args.json_dir, device_name, payload["machine"], started)
        write_json(path, payload)
        print(f"wrote {paths.shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
