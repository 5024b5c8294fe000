"""Every choice the study makes on the validation split, never on test: CustomMLP's hidden sizes, the learning rate
of the "all four combined" arm, and CustomMLP's recipe.

    MNIST_MIRROR=../shared/mnist python scripts/tune_on_validation.py [--only NAME] [--jobs auto]

Every candidate trains with the study's 5,000 training images held out, for each of `TUNING_SEEDS`, and is scored on
those held-out images only: the test set is never evaluated (`score_test=False`), so it cannot steer a choice.
The rule, fixed before any candidate ran: the highest mean final validation accuracy over the seeds wins; exact ties
go to the candidate listed first (each grid lists its simpler or more conventional candidates first). A numeric grid
whose winner sits at an edge is extended one step past that edge, and the choice is made again, at most three times.

Runs are stored under results/tuning/runs/ (resumable like every run); each decision is recorded in
results/tuning/<name>.json with every candidate's mean, which the report shows (`study.load_decision`); notebook 4
reads its winners from there (`study.winner`), and tests/test_study.py checks each record names its winner by the rule.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mnistfiles.io import write_json
from mnistlib.data import MnistArrays, load_mnist
from mnistlib.experiments import RunSpec, final_val_acc, sweep
from mnistlib.study import STUDY_EPOCHS, TUNING_DIR, VAL_SIZE
from mnistlib.training import TrainSettings

TUNING_SEEDS = (0, 1, 2)
DECISIONS = ("mlp_shape", "lenet_lr", "mlp_recipe")
# CustomMLP shapes within 1% of LeNet-5's 61,706 parameters, one to three hidden layers; listed from the
# closest to the budget outwards, so an exact tie goes to the fairest match.
MLP_SHAPES: tuple[tuple[int, ...], ...] = (
    (68, 64, 52), (75, 33), (74, 42), (76, 24), (72, 64), (70, 64, 32), (70, 80), (78,), (77,),
)
LENET_LRS = (0.05, 0.1, 0.2)  # ties go to the smaller rate
MLP_LRS = (0.01, 0.02, 0.05)  # ties go to the smaller rate, then fewer epochs, then no augmentation


def mlp_shape_candidates(epochs: int = 10, val_size: int = VAL_SIZE) -> list[RunSpec]:
    """Each shape with the course template's settings (SGD 0.01, momentum 0.9, constant rate)."""
    settings = TrainSettings(epochs=epochs, val_size=val_size, test_every_epoch=False)
    names = ["mlp-" + "-".join(str(width) for width in hidden) for hidden in MLP_SHAPES]
    return [RunSpec(name, model=name, settings=settings) for name in names]


def lenet_lr_candidates(base: RunSpec, lrs: Sequence[float] = LENET_LRS) -> list[RunSpec]:
    """The "all four combined" arm at each learning rate."""
    return [replace(base, name=f"{base.name} lr {lr:g}").with_settings(lr=lr) for lr in sorted(lrs)]


def mlp_recipe_candidates(epochs: int, lrs: Sequence[float] = MLP_LRS, val_size: int = VAL_SIZE) -> list[RunSpec]:
    """CustomMLP with the study's cosine schedule: plain, augmented, augmented for twice the epochs; per rate."""
    base = TrainSettings(epochs=epochs, lr_schedule="cosine", val_size=val_size, test_every_epoch=False)
    return [RunSpec(f"mlp lr {lr:g}{' aug' if augment else ''} {factor * epochs} epochs", model="mlp",
                    settings=replace(base, lr=lr, augment=augment, epochs=factor * epochs))
            for lr in sorted(lrs) for augment, factor in ((False, 1), (True, 1), (True, 2))]


def winner(means: dict[str, dict[str, Any]]) -> str:
    """The highest mean validation accuracy; an exact tie goes to the candidate listed first."""
    best = max(entry["mean"] for entry in means.values())
    return next(name for name, entry in means.items() if entry["mean"] == best)


def decide(name: str, candidates: list[RunSpec], data: MnistArrays, *, seeds: Sequence[int] = TUNING_SEEDS,
           axes: Sequence[str] = (), tuning_dir: str | Path | None = None, jobs: int | str = 1,
           max_extensions: int = 3) -> dict[str, Any]:
    """Train every candidate on the validation split, pick the winner by the rule above, record the decision.

    For each numeric setting in `axes` ("lr", "epochs"), a winner at the edge of its grid adds one candidate past
    that edge (lr halved or doubled, epochs doubled) and the choice is made again, at most `max_extensions` times;
    the record says if the winner still sits at an edge.
    """
    tuning_dir = Path(tuning_dir) if tuning_dir else TUNING_DIR
    candidates = list(candidates)
    for _ in range(max_extensions + 1):
        means: dict[str, dict[str, Any]] = {}  # per candidate, in grid order: its runs' validation accuracies
        for result in sweep(candidates, seeds, data, tuning_dir / "runs", jobs=jobs, score_test=False):
            entry = means.setdefault(result["name"], {"spec": result["spec"], "parameters": result["parameters"],
                                                      "val_acc": []})
            entry["val_acc"].append(final_val_acc(result))
        for entry in means.values():
            entry["mean"] = statistics.fmean(entry["val_acc"])
        chosen = winner(means)
        more = _past_the_edge(candidates, chosen, axes)
        if more is None:
            break
        candidates.append(more)
    record = {
        "decision": name,
        "rule": "highest mean final validation accuracy over the seeds; exact ties: first in grid order",
        "seeds": list(seeds),
        "val_size": candidates[0].settings.val_size,
        "data": data.info(),
        "winner": chosen,
        "winner_at_edge": more is not None,
        "candidates": [{"name": key, "mean_val_acc": entry["mean"], "val_acc": entry["val_acc"], "spec": entry["spec"],
                        "parameters": entry["parameters"]} for key, entry in means.items()],
    }
    write_json(tuning_dir / f"{name}.json", record)
    return record


_AXIS_LABEL = {"lr": "lr {:g}", "epochs": "{} epochs"}


def _past_the_edge(candidates: list[RunSpec], chosen_name: str, axes: Sequence[str]) -> RunSpec | None:
    """The next candidate past the edge the winner sits on, along the first axis where it does; else None."""
    chosen = next(spec for spec in candidates if spec.name == chosen_name)
    for axis in axes:
        value = getattr(chosen.settings, axis)
        same_otherwise = [spec for spec in candidates
                          if replace(spec, name="").with_settings(**{axis: value}) == replace(chosen, name="")]
        values = sorted(getattr(spec.settings, axis) for spec in same_otherwise)
        if value == values[-1]:
            new = value * 2
        elif axis == "lr" and value == values[0]:
            new = value / 2
        else:
            continue
        label = _AXIS_LABEL[axis]
        return replace(chosen, name=chosen.name.replace(label.format(value), label.format(new))).with_settings(
            **{axis: new})
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=DECISIONS, action="append", default=None)
    parser.add_argument("--jobs", default="auto")
    args = parser.parse_args()
    data = load_mnist(source="auto", verbose=False)
    print(data.describe())
    # Notebook 4's "all four combined" arm: batch norm, dropout 0.25, weight decay 5e-4, augmentation, cosine decay.
    all_four = RunSpec("all_combined", batch_norm=True, dropout=0.25, settings=TrainSettings(
        epochs=STUDY_EPOCHS, lr_schedule="cosine", val_size=VAL_SIZE, test_every_epoch=False, weight_decay=5e-4,
        augment=True))
    grids = {"mlp_shape": (mlp_shape_candidates(), ()), "lenet_lr": (lenet_lr_candidates(all_four), ("lr",)),
             "mlp_recipe": (mlp_recipe_candidates(STUDY_EPOCHS), ("lr", "epochs"))}
    for name in args.only or DECISIONS:
        candidates, axes = grids[name]
        record = decide(name, candidates, data, axes=axes, jobs=args.jobs)
        for row in record["candidates"]:
            mark = "  <- winner" if row["name"] == record["winner"] else ""
            print(f"  {row['name']:<32} mean val acc {row['mean_val_acc']:.4%}{mark}")
        edge = " (still at the grid's edge)" if record["winner_at_edge"] else ""
        print(f"{name}: {record['winner']}{edge}", flush=True)


if __name__ == "__main__":
    main()
