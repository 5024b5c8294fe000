"""Command line: `python -m mnistlib train --model lenet5 --epochs 10` prints one line per epoch, writes JSON."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mnistlib.data import DataError, load_mnist
from mnistlib.experiments import RunSpec, run
from mnistlib.training import TrainingDiverged, TrainSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mnistlib", description="LeNet-5 vs a custom MLP on MNIST.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("train", help="train one model and write its results as JSON")
    p.add_argument("--model", choices=["lenet5", "mlp"], default="lenet5")
    p.add_argument("--bn", action="store_true", help="batch normalisation (lenet5 only)")
    p.add_argument("--dropout", type=float, default=0.0, metavar="P", help="dropout rate (lenet5 only)")
    p.add_argument("--weight-decay", type=float, default=0.0, metavar="W")
    p.add_argument("--label-smoothing", type=float, default=0.0, metavar="E")
    p.add_argument("--augment", action="store_true", help="random rotation, translation and scale on training batches")
    p.add_argument("--epochs", type=int, default=10, metavar="N")
    p.add_argument("--batch-size", type=int, default=64, metavar="B")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--device", default="auto", metavar="D", help="auto (cuda, mps, cpu), cpu, cuda, cuda:1, mps")
    p.add_argument("--data-dir", default=None, help="folder with MNIST (default: data/ in the repository)")
    p.add_argument(
        "--source",
        default="auto",
        choices=["auto", "idx", "course", "mirror", "download", "sample"],
        help="where the images come from (auto tries each in turn and falls back to the 5,000-digit sample)",
    )
    p.add_argument("--out", default=None, help="results JSON path (default: results/cli/<run id>.json)")
    p.add_argument("--progress", choices=["auto", "bar", "epoch", "none"], default="auto")
    s = commands.add_parser("study", help="run (or resume) the regularization study: every arm, every seed")
    s.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the study's 15)")
    s.add_argument("--seeds", type=int, default=5, help="seeds per arm (0..N-1)")
    s.add_argument("--device", default="auto")
    s.add_argument("--source", default="auto", choices=["auto", "idx", "course", "mirror", "download", "sample"])
    s.add_argument("--results-dir", default=None, help="where run files go (default: results/)")
    s.add_argument("--retrain", action="store_true", help="train again even where a result is stored")
    return parser


def study_command(args: argparse.Namespace) -> int:
    from mnistlib.experiments import sweep
    from mnistlib.stats import format_mean_std, format_p
    from mnistlib.study import FULL_EPOCHS, arms_for, study_table, tuned_mlp_for

    data = load_mnist(source=args.source, verbose=False)
    print(data.describe())
    epochs = args.epochs or FULL_EPOCHS
    mlp_spec = tuned_mlp_for(data.n_train, epochs=epochs)
    specs = [*arms_for(data.n_train, epochs=epochs), mlp_spec]
    results = sweep(specs, range(args.seeds), data, args.results_dir, retrain=args.retrain, device=args.device)
    for row in study_table(results):
        p = "" if row["arm"] == "baseline" else f"  {format_p(row['p_value'])}"
        print(f"{row['label']:<44} {format_mean_std(row['values'])}  {row['verdict']}{p}")
    mlp_accs = [r["final_test_acc"] for r in results if r["name"] == mlp_spec.name]
    print(f"{'CustomMLP (' + mlp_spec.describe() + ')':<44} {format_mean_std(mlp_accs)}")
    return 0


def train_command(args: argparse.Namespace) -> int:
    settings = TrainSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        augment=args.augment,
        lr_schedule=args.lr_schedule,
    )
    spec = RunSpec(name=f"cli-{args.model}", model=args.model, batch_norm=args.bn, dropout=args.dropout,
                   settings=settings)
    data = load_mnist(args.data_dir, source=args.source, verbose=False)
    print(data.describe())
    from mnistlib.experiments import default_results_dir

    result = run(spec, args.seed, data, default_results_dir() / "cli", retrain=True, device=args.device,
                 progress=args.progress, out=args.out)
    print(f"{spec.describe()}: final test accuracy {result['final_test_acc']:.2%} "
          f"({result['parameters']:,} parameters, {result['seconds']:.0f}s on {result['device']})")
    print(f"results written to {args.out or default_results_dir() / 'cli' / (result['id'] + '.json')}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return train_command(args)
        if args.command == "study":
            return study_command(args)
    except (DataError, TrainingDiverged, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1
