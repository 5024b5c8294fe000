"""Make the project's choices on the validation split only (see mnistlib/tuning.py for the rule).

    MNIST_MIRROR=../shared/mnist python scripts/tune_on_validation.py [--only NAME] [--jobs auto]

mlp_shape: CustomMLP's hidden sizes (template settings, 10 epochs). lenet_lr: the learning rate of the "all four
combined" arm. mlp_recipe: CustomMLP's learning rate, augmentation and epochs. Each writes results/tuning/<name>.json
and prints the winner; study.py and models.py name the winners, and tests/test_study.py fails if they disagree.
"""

from __future__ import annotations

import argparse

from mnistlib import tuning
from mnistlib.data import load_mnist
from mnistlib.study import FULL_EPOCHS, regularization_arms

DECISIONS = ("mlp_shape", "lenet_lr", "mlp_recipe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=DECISIONS, action="append", default=None)
    parser.add_argument("--jobs", default="auto")
    args = parser.parse_args()
    data = load_mnist(source="auto", verbose=False)
    print(data.describe())
    for name in args.only or DECISIONS:
        if name == "mlp_shape":
            record = tuning.decide(name, tuning.mlp_shape_candidates(), data, jobs=args.jobs)
        elif name == "lenet_lr":
            all_four = next(arm for arm in regularization_arms() if arm.name == "all_combined")
            record = tuning.decide(name, tuning.lenet_lr_candidates(all_four), data, axes=("lr",), jobs=args.jobs)
        else:
            record = tuning.decide(name, tuning.mlp_recipe_candidates(FULL_EPOCHS), data, axes=("lr", "epochs"),
                                   jobs=args.jobs)
        for row in record["candidates"]:
            mark = "  <- winner" if row["name"] == record["winner"] else ""
            print(f"  {row['name']:<32} mean val acc {row['mean_val_acc']:.4%}{mark}")
        edge = " (still at the grid's edge)" if record["winner_at_edge"] else ""
        print(f"{name}: {record['winner']}{edge}", flush=True)


if __name__ == "__main__":
    main()
