"""Command line: `python -m mnistlib train --model lenet5 --epochs 10` prints one line per epoch, writes JSON.

Every argument, the device and the output location are checked before any data is read or any batch is
trained: a mistake is one line, `error: ...`, and exit status 2, never a traceback or a run that trains and
then cannot save. An interrupted `train` run continues where it stopped when the same command is given again
(`--restart` starts afresh).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

from mnistlib import paths
from mnistlib.checkpoints import CheckpointError
from mnistlib.data import SOURCES, DataError, load_mnist
from mnistlib.experiments import RunSpec, run
from mnistlib.io import describe_os_error
from mnistlib.models import MODEL_NAMES, build_model
from mnistlib.stats import format_mean_std
from mnistlib.study import FULL_EPOCHS, SEEDS, Study
from mnistlib.training import TrainingDiverged, TrainSettings, select_device


class UsageError(Exception):
    """An argument or an output location that cannot work; reported as one line before anything runs."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default, except where the help already says it in words."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        return text if "(default" in text else super()._get_help_string(action) or text


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line `error: ...` (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _number(kind: Callable[[str], float], low: float, high: float | None = None,
            low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite `kind` from `low` (excluded if `low_open`) up to `high` (excluded)."""
    span = f"in {'(' if low_open else '['}{low}, {high})" if high is not None else f"{'>' if low_open else '>='} {low}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if kind is float and not math.isfinite(value):  # an int is always finite (math.isfinite overflows on 1e400)
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if (value <= low if low_open else value < low) or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"must be {span}, got {text}")
        return value

    return parse


def _jobs(text: str) -> int | str:
    if text == "auto":
        return text
    return int(_number(int, 1)(text))


def build_parser() -> argparse.ArgumentParser:
    """The `train` and `study` commands; `--help` shows every default (those of `TrainSettings` for training)."""
    parser = _Parser(prog="python -m mnistlib", description="LeNet-5 vs a custom MLP on MNIST.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("train", help="train one model and write its results as JSON", formatter_class=_Formatter,
                            description="Train one model; an interrupted run resumes when the same command is "
                                        "given again.")
    p.add_argument("--model", choices=MODEL_NAMES, default=MODEL_NAMES[0], help="which network")
    p.add_argument("--bn", action="store_true", help="batch normalisation (lenet5 only)")
    p.add_argument("--dropout", type=_number(float, 0, 1), default=0.0, metavar="P", help="dropout rate (lenet5 only)")
    p.add_argument("--weight-decay", type=_number(float, 0), metavar="W",
                   help="L2 penalty on weights (not on biases or batch-norm parameters)")
    p.add_argument("--label-smoothing", type=_number(float, 0, 1), metavar="E",
                   help="share of the target spread over the other classes")
    p.add_argument("--augment", action="store_true", help="random rotation, translation and scale on training batches")
    p.add_argument("--epochs", type=_number(int, 1), metavar="N", help="passes over the training set")
    p.add_argument("--batch-size", type=_number(int, 1), metavar="B", help="training batch size")
    p.add_argument("--lr", type=_number(float, 0, low_open=True), help="SGD learning rate")
    p.add_argument("--momentum", type=_number(float, 0, 1), help="SGD momentum")
    p.add_argument("--lr-schedule", choices=("constant", "cosine"),
                   help="cosine decays the rate to 0 over the run, per batch")
    p.add_argument("--seed", type=_number(int, 0, 2**32), default=0, metavar="S",
                   help="weights, shuffle, dropout and augmentation")
    p.add_argument("--device", default="auto", metavar="D", help="auto (cuda, mps, cpu), cpu, cuda, cuda:1, mps")
    p.add_argument("--data-dir", help="folder with MNIST (default: data/ in the repository or $MNISTLIB_DATA)")
    p.add_argument("--source", default="auto", choices=SOURCES,
                   help="where the images come from (auto tries each in turn and falls back to the 5,000-digit sample)")
    p.add_argument("--out", help="results JSON path (default: results/cli/<run id>.json)")
    p.add_argument("--progress", choices=["auto", "bar", "epoch", "none"], default="auto",
                   help="a bar in a terminal, else one line per epoch")
    p.add_argument("--restart", action="store_true",
                   help="start afresh instead of resuming an interrupted run of the same settings")
    p.set_defaults(**{f.name: f.default for f in fields(TrainSettings)})  # TrainSettings: the one source of defaults
    s = commands.add_parser("study", help="run (or resume) the regularization study: every arm, every seed",
                            formatter_class=_Formatter)
    s.add_argument("--epochs", type=_number(int, 1), help="epochs per run (default: the study's 15)")
    s.add_argument("--seeds", type=_number(int, 1, 1001), default=len(SEEDS), help="seeds per arm (0..N-1)")
    s.add_argument("--jobs", type=_jobs, default="auto", metavar="N|auto",
                   help="runs trained at once, each in its own process (auto: one per core, one on a GPU)")
    s.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:1, mps")
    s.add_argument("--source", default="auto", choices=SOURCES, help="where the images come from")
    s.add_argument("--results-dir", help="where run files go (default: results/)")
    s.add_argument("--retrain", action="store_true", help="train again even where a result is stored")
    return parser


def check_device(device: str) -> None:
    """The device exists on this machine (not just a name torch can parse)."""
    try:
        select_device(device)
    except ValueError as exc:
        raise UsageError(f"--device {exc}") from None


def check_writable_folder(folder: Path, what: str) -> None:
    """`folder` exists or can be made, and a file can be written in it: checked by writing one."""
    ancestor = next((path for path in (folder, *folder.parents) if path.exists()), None)  # the nearest that exists
    if ancestor is not None and not ancestor.is_dir():
        raise UsageError(f"{what} {folder}: {ancestor} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".mnistlib-write-check-"):
            pass
    except OSError as exc:
        raise UsageError(f"{what} {folder}: cannot write there ({exc.strerror or exc})") from None


def check_output_file(path: Path, what: str) -> None:
    """`path` can be written: not a folder, and its folder writable (which is all a replacing rename needs)."""
    if path.is_dir():
        raise UsageError(f"{what} {path}: is a folder; give a file name such as {path / 'result.json'}")
    check_writable_folder(path.parent, what)


def study_command(args: argparse.Namespace) -> int:
    """Check the arguments, the results folder and the data, then sweep every arm and seed (resumable)."""
    check_device(args.device)
    results_dir = paths.results_dir(args.results_dir)
    check_writable_folder(results_dir / "checkpoints", "--results-dir")
    data = load_mnist(source=args.source, verbose=False)  # read and verified once, before any job starts
    print(data.describe())
    from mnistlib.tables import p_cell, verdict_text  # pandas: only the study needs it

    study = Study(data, results_dir=results_dir, seeds=tuple(range(args.seeds)),
                  study_epochs=args.epochs or FULL_EPOCHS, retrain=args.retrain, device=args.device, jobs=args.jobs)
    for row in study.arm_rows:  # the verdict and p are Holm-adjusted over the arms, as in the report
        p = "" if row["arm"] == "baseline" else f"  (Holm-adjusted p {p_cell(row['p_adjusted'])})"
        verdict = "baseline" if row["arm"] == "baseline" else verdict_text(row)
        print(f"{row['label']:<44} {format_mean_std(row['values'])}  {verdict}{p}")
    mlp = study.specs("arms")[-1]
    print(f"{'CustomMLP (' + mlp.describe() + ')':<44} {format_mean_std(study.accuracies(mlp.name))}")
    return 0


def train_command(args: argparse.Namespace) -> int:
    """Check the arguments, the device and every output location, then train (resuming where a run stopped)."""
    spec = RunSpec(name=f"cli-{args.model}", model=args.model, batch_norm=args.bn, dropout=args.dropout,
                   settings=TrainSettings(**{f.name: getattr(args, f.name) for f in fields(TrainSettings)}))
    try:
        build_model(spec.model, batch_norm=spec.batch_norm, dropout=spec.dropout)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    check_device(args.device)
    if args.data_dir is not None and Path(args.data_dir).exists() and not Path(args.data_dir).is_dir():
        raise UsageError(f"--data-dir {args.data_dir}: is a file, not a folder")
    results_dir = paths.results_dir() / "cli"
    check_writable_folder(results_dir / "checkpoints", "checkpoint folder")
    out = Path(args.out) if args.out else None
    if out is not None:
        check_output_file(out, "--out")
    data = load_mnist(args.data_dir, source=args.source, verbose=False)
    print(data.describe())
    result = run(spec, args.seed, data, results_dir, retrain=True, resume=not args.restart, device=args.device,
                 progress=args.progress, out=out)
    print(f"{spec.describe()}: final test accuracy {result['final_test_acc']:.2%} "
          f"({result['parameters']:,} parameters, {result['seconds']:.0f}s on {result['device']})")
    print(f"results written to {out or results_dir / (result['id'] + '.json')}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every foreseen failure is one `error: ...` line on stderr and exit status 2."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad argument (2, already reported in one line)
        return int(exc.code or 0)
    try:
        return train_command(args) if args.command == "train" else study_command(args)
    except (UsageError, DataError, TrainingDiverged, CheckpointError, ValueError, OSError) as exc:
        # an OSError (a full disk, a folder that became read-only) is told with the file it concerns
        print(f"error: {describe_os_error(exc) if isinstance(exc, OSError) else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        again = "after the last finished epoch" if args.command == "train" else "with the runs still to do"
        print(f"interrupted; give the same command again to resume {again}", file=sys.stderr)
        return 130
