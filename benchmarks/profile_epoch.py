"""Profile mnistlib's CPU epoch (LeNet-5, TensorBatches, train/test): which settings make it faster, and why.

Times one training epoch and one evaluation pass for each variant (memory format, threads, evaluation mode and
batch, optimiser implementation, torch.compile, oneDNN on/off), then records torch.profiler tables (top ops
by self CPU time) for contiguous vs channels_last at 1 and 2 threads. Writes benchmarks/profile-cpu.txt.

    python benchmarks/profile_epoch.py                  # full epochs at batch 64
    python benchmarks/profile_epoch.py --max-batches 100 --no-compile   # quick look
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from mnistfiles.io import atomic_open
from mnistlib import paths
from mnistlib.data import MnistArrays, TensorBatches, load_mnist
from mnistlib.models import LeNet5
from mnistlib.training import prepare_model
from mnistlib.training import test as mnistlib_test
from mnistlib.training import train as mnistlib_train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_epoch import initial_state, limited, machine_info, subset  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Variant:
    """One way to run mnistlib's epoch; the defaults are what `fit` does today."""

    name: str
    channels_last: bool = True
    threads: int | None = None  # None: leave torch's setting
    eval_mode: str = "inference_mode"  # or "no_grad"
    eval_batch: int | None = None  # None: the training batch size
    optimizer: str = "default"  # "default" (SGD's own choice), "foreach" or "fused"
    compile: bool = False
    mkldnn: bool = True


def _test_no_grad(model: nn.Module, batches: Iterable, criterion: nn.Module) -> tuple[float, float]:
    """mnistlib's `test`, with torch.no_grad instead of torch.inference_mode."""
    model.eval()
    total = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    seen = 0
    with torch.no_grad():
        for images, labels in batches:
            logits = model(images)
            total += criterion(logits, labels) * labels.numel()
            correct += (logits.argmax(1) == labels).sum()
            seen += labels.numel()
    return total.item() / seen, correct.item() / seen


def _optimizer(model: nn.Module, kind: str) -> torch.optim.Optimizer:
    options = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}[kind]
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, **options)


@contextlib.contextmanager
def _settings(variant: Variant) -> Iterator[None]:
    """Threads and oneDNN as the variant says, restored afterwards."""
    threads = torch.get_num_threads()
    if variant.threads:
        torch.set_num_threads(variant.threads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # oneDNN's flags() warns about TF32 on Intel GPUs
            flags = torch.backends.mkldnn.flags(enabled=variant.mkldnn)
            flags.__enter__()
        try:
            yield
        finally:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                flags.__exit__(None, None, None)
    finally:
        torch.set_num_threads(threads)


@dataclass
class Setup:
    """A model, optimiser and batches, ready for timed epochs."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    train_batches: TensorBatches
    test_batches: TensorBatches
    evaluate: Callable[[nn.Module, Iterable, nn.Module], tuple[float, float]]


def build(variant: Variant, data: MnistArrays, batch_size: int, state: dict[str, torch.Tensor]) -> Setup:
    """The variant's model (weights from `state`), optimiser and batches."""
    model = LeNet5()
    model.load_state_dict(state)
    if variant.channels_last:
        model = prepare_model(model, "cpu")  # as fit prepares it: channels_last
    optimizer = _optimizer(model, variant.optimizer)
    run_model: nn.Module = torch.compile(model) if variant.compile else model
    train_batches = TensorBatches(data.train_images, data.train_labels, batch_size, shuffle=True, seed=0)
    test_batches = TensorBatches(data.test_images, data.test_labels, variant.eval_batch or batch_size)
    if variant.eval_mode == "no_grad":
        evaluate = _test_no_grad
    else:
        def evaluate(m: nn.Module, b: Iterable, c: nn.Module) -> tuple[float, float]:
            return mnistlib_test(m, b, "cpu", c)
    return Setup(run_model, optimizer, train_batches, test_batches, evaluate)


def measure(
    variant: Variant, data: MnistArrays, batch_size: int, state: dict[str, torch.Tensor], epochs: int,
    max_batches: int | None, warmup: int,
) -> dict[str, float]:
    """Seconds for a training epoch and an evaluation pass: first timed epoch and best of the later ones."""
    criterion = nn.CrossEntropyLoss()
    with _settings(variant):
        s = build(variant, data, batch_size, state)
        start = time.perf_counter()
        mnistlib_train(s.model, limited(s.train_batches, warmup), "cpu", criterion, s.optimizer)
        s.evaluate(s.model, limited(s.test_batches, max(1, warmup // 2)), criterion)
        warmup_s = time.perf_counter() - start
        n_train, n_test = len(s.train_batches), len(s.test_batches)
        k_train = min(n_train, max_batches or n_train)
        k_test = min(n_test, max_batches or n_test)
        times = []
        for epoch in range(1, epochs + 1):
            s.train_batches.set_epoch(epoch)
            t0 = time.perf_counter()
            loss, _ = mnistlib_train(s.model, limited(s.train_batches, max_batches), "cpu", criterion, s.optimizer)
            t1 = time.perf_counter()
            _, acc = s.evaluate(s.model, limited(s.test_batches, max_batches), criterion)
            t2 = time.perf_counter()
            times.append(((t1 - t0) * n_train / k_train, (t2 - t1) * n_test / k_test))
    later = times[1:] or times
    best = min(later, key=sum)
    return {
        "warmup_s": warmup_s, "first_train_s": times[0][0], "first_test_s": times[0][1],
        "train_s": best[0], "test_s": best[1], "total_s": sum(best), "loss": loss, "acc": acc,
    }


def profile_table(
    variant: Variant, data: MnistArrays, batch_size: int, state: dict[str, torch.Tensor], n_batches: int,
    rows: int = 15,
) -> str:
    """torch.profiler's top ops by self CPU time over n_batches training batches and n_batches/4 test batches."""
    from torch.profiler import ProfilerActivity, profile

    criterion = nn.CrossEntropyLoss()
    with _settings(variant):
        s = build(variant, data, batch_size, state)
        mnistlib_train(s.model, limited(s.train_batches, 5), "cpu", criterion, s.optimizer)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            mnistlib_train(s.model, limited(s.train_batches, n_batches), "cpu", criterion, s.optimizer)
            s.evaluate(s.model, limited(s.test_batches, max(1, n_batches // 4)), criterion)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=48)


def variants(default_threads: int, with_compile: bool) -> list[Variant]:
    """Every setting the issue asks about, changed one at a time from what fit does today."""
    base = Variant("fit today: channels_last", threads=default_threads)
    out = [
        base,
        replace(base, name="contiguous", channels_last=False),
        replace(base, name="channels_last, 1 thread", threads=1),
        replace(base, name="contiguous, 1 thread", channels_last=False, threads=1),
        replace(base, name="eval torch.no_grad", eval_mode="no_grad"),
        replace(base, name="eval batch 1000", eval_batch=1000),
        replace(base, name="SGD foreach=True", optimizer="foreach"),
        replace(base, name="SGD fused=True", optimizer="fused"),
        replace(base, name="oneDNN (mkldnn) disabled", mkldnn=False),
        replace(base, name="contiguous, oneDNN disabled", channels_last=False, mkldnn=False),
    ]
    if with_compile:
        out += [
            replace(base, name="torch.compile (inductor)", compile=True),
            replace(base, name="torch.compile, contiguous", compile=True, channels_last=False),
        ]
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per variant; the best later one counts")
    p.add_argument("--max-batches", type=int, default=None, help="time N batches per phase and extrapolate")
    p.add_argument("--warmup-batches", type=int, default=5)
    p.add_argument("--profile-batches", type=int, default=200)
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    p.add_argument("--only", nargs="+", default=None, help="run only variants whose name contains one of these")
    p.add_argument("--subset", type=int, default=None)
    p.add_argument("--source", default="auto")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "profile-cpu.txt")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data = subset(load_mnist(paths.data_dir(), source=args.source, verbose=False), args.subset)
    state = initial_state(0)
    threads = torch.get_num_threads()
    info = machine_info(torch.device("cpu"))
    lines = [
        f"mnistlib CPU epoch profile: LeNet-5, batch {args.batch_size}, {data.describe()}",
        f"machine: {info['cpu']}, {info['cores_usable']} usable cores, torch {info['torch']} "
        f"({info['cpu_capability']}), {threads} threads by default",
        "times: one training epoch + one evaluation pass, best of the timed epochs after the first"
        + (f"; extrapolated from {args.max_batches} batches per phase" if args.max_batches else ""),
        "",
    ]
    head = (
        f"{'variant':<32} {'train s':>8} {'test s':>7} {'total s':>8} {'vs today':>8} {'first s':>8} {'warm-up s':>9}"
    )
    lines += [head, "-" * len(head)]
    print("\n".join(lines), flush=True)
    chosen = variants(threads, with_compile=not args.no_compile)
    if args.only:
        chosen = [v for v in chosen if any(word in v.name for word in args.only)]
    baseline = None
    for variant in chosen:
        r = measure(variant, data, args.batch_size, state, args.epochs, args.max_batches, args.warmup_batches)
        baseline = baseline or r["total_s"]
        line = (
            f"{variant.name:<32} {r['train_s']:>8.2f} {r['test_s']:>7.2f} {r['total_s']:>8.2f} "
            f"{baseline / r['total_s']:>7.2f}x {r['first_train_s'] + r['first_test_s']:>8.2f} {r['warmup_s']:>9.1f}"
        )
        print(line, flush=True)
        lines.append(line)
    lines.append("")
    for variant in (
        Variant("channels_last, 2 threads", threads=2),
        Variant("contiguous, 2 threads", channels_last=False, threads=2),
        Variant("channels_last, 1 thread", threads=1),
        Variant("contiguous, 1 thread", channels_last=False, threads=1),
    ):
        n = args.profile_batches
        title = f"torch.profiler, {variant.name}: {n} training + {n // 4} test batches, top ops by self CPU time"
        table = profile_table(variant, data, args.batch_size, state, args.profile_batches)
        lines += [title, table, ""]
        print(title, table, sep="\n", flush=True)
    with atomic_open(args.out) as handle:
        handle.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
