"""Runs per hour of a sweep: one process using every core through threads, against one single-threaded process per
core (joblib), on the same runs, in interleaved rounds; the median round counts.

A network as small as LeNet-5 gains little from intra-op threads, so several runs side by side use a machine better
than one run with many threads. This measures by how much, here, and writes a new file,
benchmarks/results-sweep-<machine>-<cores>cores-<date>.json (README's Performance block is generated from these files;
committed results are never overwritten).

    python benchmarks/bench_sweep.py                  # 4 runs per configuration, 3 rounds
    python benchmarks/bench_sweep.py --runs 2 --rounds 1 --subset 4000   # smoke test
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from mnistfiles.io import unused_path, write_json
from mnistlib import paths
from mnistlib.data import MnistArrays, load_mnist
from mnistlib.experiments import RunSpec, sweep
from mnistlib.training import TrainSettings

BENCH_DIR = Path(__file__).resolve().parent


def result_path(folder: Path, machine: dict[str, Any], started: str) -> Path:
    """A file of its own for each run, results-sweep-<machine>-<cores>cores-<date>.json (-2, -3, ... on the same day):
    results measured elsewhere or earlier, committed ones included, are never overwritten."""
    cpu = re.sub(r"[^a-z0-9]+", "-", str(machine["cpu"]).lower()).strip("-")
    return unused_path(folder, f"results-sweep-{cpu}-{machine['cores']}cores-{started[:10]}")


def configurations(cores: int) -> list[tuple[str, int, int]]:
    """(label, processes, threads per process): all cores as threads of one run, and one run per core."""
    return [(f"1 process x {cores} threads", 1, cores), (f"{cores} processes x 1 thread", cores, 1)]


def time_sweep(specs: list[RunSpec], seeds: Sequence[int], data: MnistArrays, jobs: int, threads: int) -> float:
    """Seconds to train every run from scratch (a fresh results folder) with this many processes and threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as folder:
            start = time.perf_counter()
            sweep(specs, seeds, data, folder, jobs=jobs, log=None)
            return time.perf_counter() - start
    finally:
        torch.set_num_threads(before)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="runs per configuration and round (distinct seeds)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--subset", type=int, default=20_000, help="training images per run")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--source", default="auto")
    parser.add_argument("--json-dir", type=Path, default=BENCH_DIR,
                        help="where results-sweep-<machine>-<cores>cores-<date>.json goes")
    args = parser.parse_args(argv)
    full = load_mnist(source=args.source, verbose=False)
    data = MnistArrays(full.train_images[:args.subset], full.train_labels[:args.subset], full.test_images,
                       full.test_labels, full.source, full.origin)
    specs = [RunSpec("bench", settings=TrainSettings(epochs=args.epochs))]
    seeds = list(range(args.runs))
    configs = configurations(args.cores)
    sweep(specs, [10_000], data, tempfile.mkdtemp(prefix="bench-warmup-"), jobs=args.cores, log=None)  # start workers
    seconds: dict[str, list[float]] = {label: [] for label, _, _ in configs}
    for round_ in range(1, args.rounds + 1):
        for label, jobs, threads in configs:
            took = time_sweep(specs, seeds, data, jobs, threads)
            seconds[label].append(took)
            print(f"round {round_}/{args.rounds} {label:<26} {took:6.1f} s for {args.runs} runs", flush=True)
    rows = []
    for label, jobs, threads in configs:
        median = statistics.median(seconds[label])
        rows.append({"configuration": label, "processes": jobs, "threads": threads, "round_s": seconds[label],
                     "seconds": median, "runs_per_hour": 3600 * args.runs / median})
    ratio = rows[1]["runs_per_hour"] / rows[0]["runs_per_hour"]
    for row in rows:
        print(f"{row['configuration']:<26} {row['runs_per_hour']:7.0f} runs/hour (median {row['seconds']:.1f} s)")
    print(f"{rows[1]['configuration']} vs {rows[0]['configuration']}: {ratio:.2f}x runs per hour")
    payload = {
        "benchmark": f"sweep of {args.runs} LeNet-5 runs ({args.epochs} epochs on {args.subset:,} images + test)",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": args.cores,
                    "torch": torch.__version__},
        "settings": {k: (v.name if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "rows": rows,
        "ratio": ratio,
    }
    path = result_path(args.json_dir, payload["machine"], payload["started"])
    write_json(path, payload)
    print(f"wrote {paths.shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
