"""The regularization study: which arms, how many seeds, and the statistics that turn runs into verdicts.

Every arm shares the optimiser (SGD, lr 0.01, momentum 0.9, cosine decay per batch), the epochs and the batch
size. 5,000 of the 60,000 training images are held out as a validation split for the curves; the test set is
scored once per run, after the last epoch. Rates are fixed before any run (dropout 0.25, weight decay 5e-4,
rotation 10 degrees, translation 10%, scale 0.9-1.1), so no choice is made from test data.

One more arm varies the optimiser: all four techniques with a learning rate chosen on the validation split
(`scripts/tune_on_validation.py`, record in results/tuning/validation.json). CustomMLP gets the same treatment
(`tuned_mlp_spec`): the learning rate, augmentation and epochs that won on validation.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mnistlib.experiments import RunSpec
from mnistlib.stats import compare_arms
from mnistlib.training import TrainSettings

COMPARISON_EPOCHS = 10
COMPARISON_SEEDS = (0, 1, 2)
FULL_EPOCHS = 15
FULL_SEEDS = (0, 1, 2, 3, 4)
VAL_SIZE = 5000
DROPOUT = 0.25
WEIGHT_DECAY = 5e-4
# Chosen on the validation split by scripts/tune_on_validation.py (seed 0; test accuracy never looked at).
TUNED_LENET_LR = 0.1
TUNED_MLP_LR = 0.02
TUNED_MLP_EPOCH_FACTOR = 2  # the MLP with augmentation keeps improving: twice the study's epochs won
TUNING_RECORD = "results/tuning/validation.json"


def comparison_specs(epochs: int = COMPARISON_EPOCHS) -> list[RunSpec]:
    """LeNet-5 and CustomMLP with the course template's settings (notebook 03; reused by 05)."""
    template = TrainSettings(epochs=epochs)  # SGD 0.01, momentum 0.9, batch 64, cross-entropy, no schedule
    return [RunSpec("lenet5", model="lenet5", settings=template), RunSpec("mlp", model="mlp", settings=template)]


def regularization_arms(epochs: int = FULL_EPOCHS, batch_size: int = 64, val_size: int = VAL_SIZE) -> list[RunSpec]:
    """Baseline LeNet-5, each technique alone, then combined; the baseline comes first."""
    base = TrainSettings(
        epochs=epochs, batch_size=batch_size, lr_schedule="cosine", val_size=val_size, test_every_epoch=False
    )
    arms = [
        RunSpec("baseline", settings=base),
        RunSpec("batch_norm", batch_norm=True, settings=base),
        RunSpec("dropout", dropout=DROPOUT, settings=base),
        RunSpec("weight_decay", settings=replace(base, weight_decay=WEIGHT_DECAY)),
        RunSpec("augmentation", settings=replace(base, augment=True)),
        RunSpec("bn_augmentation", batch_norm=True, settings=replace(base, augment=True)),
        RunSpec("all_combined", batch_norm=True, dropout=DROPOUT,
                settings=replace(base, weight_decay=WEIGHT_DECAY, augment=True)),
    ]
    all_four = arms[-1]
    return [*arms, replace(all_four, name="all_combined_tuned_lr").with_settings(lr=TUNED_LENET_LR)]


def tuned_mlp_spec(epochs: int = FULL_EPOCHS, val_size: int = VAL_SIZE) -> RunSpec:
    """CustomMLP with the recipe that won on validation: augmentation, cosine schedule, more epochs."""
    settings = TrainSettings(
        epochs=TUNED_MLP_EPOCH_FACTOR * epochs, lr=TUNED_MLP_LR, augment=True, lr_schedule="cosine",
        val_size=val_size, test_every_epoch=False,
    )
    return RunSpec("mlp_tuned", model="mlp", settings=settings)


def arms_for(n_train: int, epochs: int = FULL_EPOCHS) -> list[RunSpec]:
    """The arms for a training set of n_train images: 5,000 held out of full MNIST, a tenth of a smaller set."""
    return regularization_arms(epochs=epochs, val_size=_val_size_for(n_train))


def tuned_mlp_for(n_train: int, epochs: int = FULL_EPOCHS) -> RunSpec:
    """`tuned_mlp_spec` with the validation split `arms_for` uses for this training set."""
    return tuned_mlp_spec(epochs=epochs, val_size=_val_size_for(n_train))


def _val_size_for(n_train: int) -> int:
    """5,000 held out of full MNIST, a tenth of a smaller training set."""
    return min(VAL_SIZE, n_train // 10)


ARM_LABELS = {
    "baseline": "Baseline LeNet-5",
    "batch_norm": "Batch norm",
    "dropout": f"Dropout {DROPOUT:g}",
    "weight_decay": f"Weight decay {WEIGHT_DECAY:g}",
    "augmentation": "Augmentation",
    "bn_augmentation": "Batch norm + augmentation",
    "all_combined": "All four combined",
    "all_combined_tuned_lr": f"All four, lr {TUNED_LENET_LR:g} (chosen on validation)",
}


def study_table(results: list[dict[str, Any]], alpha: float = 0.05, test: str = "welch") -> list[dict[str, Any]]:
    """One row per arm: mean, std, 95% interval, difference from the baseline, p-value and computed verdict."""
    by_arm: dict[str, list[float]] = {}
    for result in results:
        by_arm.setdefault(result["name"], []).append(result["final_test_acc"])
    order = [arm.name for arm in regularization_arms()]
    by_arm = {name: by_arm[name] for name in order if name in by_arm}
    rows = compare_arms(by_arm, baseline="baseline", alpha=alpha, test=test)
    for row in rows:
        row["label"] = ARM_LABELS.get(row["arm"], row["arm"])
        row["values"] = by_arm[row["arm"]]
    return rows


def best_arm(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The arm with the highest mean test accuracy (final epoch, never a best epoch)."""
    return max(rows, key=lambda row: row["mean"])


# The regularization issue's targets (full MNIST, mean over 5 or more seeds).
TARGET_BASELINE = 0.990
TARGET_BEST_ARM = 0.995
TARGET_BEST_ARM_P = 0.01
TARGET_MLP = 0.980


def target_table(rows: list[dict[str, Any]], mlp_accs: list[float]) -> list[dict[str, Any]]:
    """Each target beside the measured number and whether it is met, computed from the study rows."""
    import statistics

    baseline, best = rows[0], best_arm(rows[1:]) if len(rows) > 1 else rows[0]
    mlp_mean = statistics.fmean(mlp_accs) if mlp_accs else float("nan")
    return [
        {"target": f"LeNet-5 baseline ≥ {100 * TARGET_BASELINE:.1f}%",
         "measured": f"{100 * baseline['mean']:.2f}% ({baseline['n']} seeds)",
         "met": baseline["mean"] >= TARGET_BASELINE},
        {"target": f"best arm ≥ {100 * TARGET_BEST_ARM:.1f}%",
         "measured": f"{100 * best['mean']:.2f}% ({best['label']}, {best['n']} seeds)",
         "met": best["mean"] >= TARGET_BEST_ARM},
        {"target": f"best arm better than the baseline at p < {TARGET_BEST_ARM_P:g}",
         "measured": f"p = {best['p_value']:.2g} ({100 * best['difference']:+.2f} points)",
         "met": bool(best["p_value"] < TARGET_BEST_ARM_P and best["difference"] > 0)},
        {"target": f"CustomMLP ≥ {100 * TARGET_MLP:.1f}%",
         "measured": f"{100 * mlp_mean:.2f}% ({len(mlp_accs)} seeds)", "met": mlp_mean >= TARGET_MLP},
    ]
