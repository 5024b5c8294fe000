"""Train one model on MNIST: `python main.py --model lenet5 --epochs 10` prints one line per epoch, writes JSON.

In the spirit of pytorch/examples' mnist/main.py, on mnistlib's data, models, training loop and run store. Every
argument, the device and the output locations are checked before any data is read: a mistake is one line,
`error: ...`, and exit status 2, never a traceback or a run that trains and then cannot save. A run already stored
(results/cli/<run id>.json, or --out) is shown, not trained again, and then nothing needs to be writable; an
interrupted run resumes after its last finished epoch when the same command is given again; --restart trains afresh.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, NoReturn

from mnistfiles.io import describe_os_error
from mnistlib import paths
from mnistlib.checkpoints import CheckpointError
from mnistlib.data import SOURCES, DataError, load_mnist
from mnistlib.experiments import RunSpec, run, run_id, stored_result
from mnistlib.models import MODEL_NAMES, build_model
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


def build_parser() -> argparse.ArgumentParser:
    """Every flag; the training defaults are those of `TrainSettings`, and `--help` shows each one."""
    p = _Parser(prog="python main.py", formatter_class=_Formatter,
                description="Train LeNet-5 or the custom MLP on MNIST; an interrupted run resumes when the same "
                            "command is given again.")
    p.add_argument("--model", choices=MODEL_NAMES, default=MODEL_NAMES[0], help="which network")
    p.add_argument("--epochs", type=_number(int, 1), metavar="N", help="passes over the training set")
    p.add_argument("--batch-size", type=_number(int, 1), metavar="B", help="training batch size")
    p.add_argument("--lr", type=_number(float, 0, low_open=True), help="SGD learning rate")
    p.add_argument("--momentum", type=_number(float, 0, 1), help="SGD momentum")
    p.add_argument("--lr-schedule", choices=("constant", "cosine"),
                   help="cosine decays the rate to 0 over the run, per batch")
    p.add_argument("--weight-decay", type=_number(float, 0), metavar="W",
                   help="L2 penalty on weights (not on biases or batch-norm parameters)")
    p.add_argument("--label-smoothing", type=_number(float, 0, 1), metavar="E",
                   help="share of the target spread over the other classes")
    p.add_argument("--dropout", type=_number(float, 0, 1), default=0.0, metavar="P", help="dropout rate (lenet5 only)")
    p.add_argument("--bn", action="store_true", help="batch normalisation (lenet5 only)")
    p.add_argument("--augment", action="store_true", help="random rotation, translation and scale on training batches")
    p.add_argument("--seed", type=_number(int, 0, 2**32), default=0, metavar="S",
                   help="weights, shuffle, dropout and augmentation")
    p.add_argument("--device", default="auto", metavar="D", help="auto (cuda, mps, cpu), cpu, cuda, cuda:1, mps")
    p.add_argument("--source", default="auto", choices=SOURCES,
                   help="where the images come from (auto tries each in turn and falls back to the 5,000-digit sample)")
    p.add_argument("--data-dir", help="folder with MNIST (default: data/ in the repository or $MNISTLIB_DATA)")
    p.add_argument("--out", help="results JSON path (default: results/cli/<run id>.json)")
    p.add_argument("--restart", action="store_true",
                   help="train afresh, even if the run is stored or was interrupted")
    p.add_argument("--progress", choices=["auto", "bar", "epoch", "none"], default="auto",
                   help="a bar in a terminal, else one line per epoch")
    p.set_defaults(**{f.name: f.default for f in fields(TrainSettings)})  # TrainSettings: the one source of defaults
    return p


def check_device(device: str) -> None:
    """The device exists on this machine (not just a name torch can parse)."""
    try:
        select_device(device)
    except ValueError as exc:
        raise UsageError(f"--device {exc}") from None


def write_problem(folder: Path, what: str) -> str | None:
    """Why no file can be written in `folder` (made if missing), found by writing one; None when one can."""
    ancestor = next((path for path in (folder, *folder.parents) if path.exists()), None)  # the nearest that exists
    if ancestor is not None and not ancestor.is_dir():
        return f"{what} {folder}: {ancestor} is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".mnistlib-write-check-"):
            pass
    except OSError as exc:
        return f"{what} {folder}: cannot write there ({exc.strerror or exc})"
    return None


def stored_run(path: Path, spec: RunSpec, identifier: str) -> dict[str, Any] | None:
    """The result of this very run stored at `path` with today's code, else None (anything else there is replaced)."""
    try:
        result, _ = stored_result(path, spec)
    except (ValueError, OSError):  # not a run, or unreadable: training replaces it
        return None
    return result if result is not None and result.get("id") == identifier else None


def train(args: argparse.Namespace) -> int:
    """Check the arguments, the device and the output locations; read the data; show the stored run or train it."""
    spec = RunSpec(name=f"cli-{args.model}", model=args.model, batch_norm=args.bn, dropout=args.dropout,
                   settings=TrainSettings(**{f.name: getattr(args, f.name) for f in fields(TrainSettings)}))
    try:
        build_model(spec.model, batch_norm=spec.batch_norm, dropout=spec.dropout)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    check_device(args.device)
    if args.data_dir is not None and Path(args.data_dir).exists() and not Path(args.data_dir).is_dir():
        raise UsageError(f"--data-dir {args.data_dir}: is a file, not a folder")
    store, out = paths.results_dir() / "cli", Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file name such as {out / 'result.json'}")
    problems = [p for p in (write_problem(store / "checkpoints", "checkpoint folder"),
                            out and write_problem(out.parent, "--out")) if p]
    # Nothing is written for a run already stored: an unwritable location is refused now unless the run may be there.
    maybe_stored = out.is_file() if out else any(store.glob(f"{spec.name}-seed{args.seed}-*.json"))
    if problems and (args.restart or not maybe_stored):
        raise UsageError(problems[0])

    data = load_mnist(args.data_dir, source=args.source, verbose=False)
    print(data.describe())
    identifier = run_id(spec, args.seed, data)
    target = out or store / f"{identifier}.json"
    result = None if args.restart else stored_run(target, spec, identifier)
    if result is not None:
        print(f"{spec.describe()}, seed {args.seed}: stored in {target} (--restart trains it again)")
    elif problems:
        raise UsageError(problems[0])
    else:
        result = run(spec, args.seed, data, store, retrain=True, resume=not args.restart, device=args.device,
                     progress=args.progress, out=target)
        print(f"results written to {target}")
    print(f"{spec.describe()}: final test accuracy {result['final_test_acc']:.2%} "
          f"({result['parameters']:,} parameters, {result['seconds']:.0f}s on {result['device']})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Train one model; every foreseen failure is one `error: ...` line on stderr and exit status 2."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad argument (2, already reported in one line)
        return int(exc.code or 0)
    try:
        return train(args)
    except (UsageError, DataError, TrainingDiverged, CheckpointError, ValueError, OSError) as exc:
        # an OSError (a full disk, a folder that became read-only) is told with the file it concerns
        print(f"error: {describe_os_error(exc) if isinstance(exc, OSError) else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; give the same command again to resume after the last finished epoch", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
