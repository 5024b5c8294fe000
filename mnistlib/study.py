"""The study: which runs the report needs, and `Study`, which loads them once and turns them into verdicts.

Three experiments share one run store (results/): the template comparison (notebook 3), the regularization arms and
the tuned CustomMLP (notebook 4), and why the convolution wins (notebook 6: permuted pixels, the 1998 partial C3).
Which choices were fixed beforehand and which were made on the validation split: `tables.decisions_paragraph`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from mnistlib import paths
from mnistlib.data import MnistArrays
from mnistlib.experiments import RunSpec, sweep
from mnistlib.io import read_json
from mnistlib.stats import adjust_family, choose_test, compare_arms
from mnistlib.training import TrainSettings

COMPARISON_EPOCHS = 10
FULL_EPOCHS = 15
SEEDS = tuple(range(10))
WHY_CNN_SEEDS = tuple(range(5))  # notebook 6's extra runs: the first 5 of the template's seeds
PERMUTATION_SEED = 0
VAL_SIZE = 5000
DROPOUT = 0.25
WEIGHT_DECAY = 5e-4
# Chosen on the validation split by scripts/tune_on_validation.py (records in results/tuning/; test never scored).
TUNED_LENET_LR = 0.1  # of 0.05 / 0.1 / 0.2 (results/tuning/lenet_lr.json)
TUNED_MLP_LR = 0.01  # results/tuning/mlp_recipe.json: lr 0.01, augmentation, 60 epochs
TUNED_MLP_AUGMENT = True
TUNED_MLP_EPOCH_FACTOR = 4  # 60 epochs: still at the grid's edge when its extensions stopped (the record says so)
TUNING_DIR = paths.RESULTS_DIR / "tuning"
PUBLISHED_LENET5_ERROR = 0.0095  # LeCun et al. 1998, Fig. 9: LeNet-5 without distortions
PUBLISHED_LENET5_ERROR_DISTORTED = 0.0080  # the same, trained with distortions


def load_decision(name: str, tuning_dir: str | Path | None = None) -> dict[str, Any]:
    """A choice made on the validation split, as scripts/tune_on_validation.py recorded it (every candidate's mean)."""
    return read_json(Path(tuning_dir or TUNING_DIR) / f"{name}.json")


def comparison_specs(epochs: int = COMPARISON_EPOCHS) -> list[RunSpec]:
    """LeNet-5 and CustomMLP with the course template's settings (notebook 3; weights kept for notebooks 6, 7)."""
    template = TrainSettings(epochs=epochs)  # SGD 0.01, momentum 0.9, batch 64, cross-entropy, no schedule
    return [RunSpec("lenet5", model="lenet5", settings=template), RunSpec("mlp", model="mlp", settings=template)]


def why_cnn_specs(epochs: int = COMPARISON_EPOCHS) -> list[RunSpec]:
    """Notebook 6: both template models on permuted pixels, and LeNet-5 with the 1998 paper's partial C3."""
    template = TrainSettings(epochs=epochs)
    return [
        RunSpec("lenet5_permuted", model="lenet5", settings=template, permutation_seed=PERMUTATION_SEED),
        RunSpec("mlp_permuted", model="mlp", settings=template, permutation_seed=PERMUTATION_SEED),
        RunSpec("lenet5_1998", model="lenet5_1998", settings=template),
    ]


def regularization_arms(epochs: int = FULL_EPOCHS, batch_size: int = 64, val_size: int = VAL_SIZE) -> list[RunSpec]:
    """Baseline LeNet-5, each technique alone, then combined; the baseline comes first."""
    base = TrainSettings(epochs=epochs, batch_size=batch_size, lr_schedule="cosine", val_size=val_size,
                         test_every_epoch=False)
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
    """CustomMLP with the recipe that won on validation: learning rate, augmentation and epochs."""
    settings = TrainSettings(epochs=TUNED_MLP_EPOCH_FACTOR * epochs, lr=TUNED_MLP_LR, augment=TUNED_MLP_AUGMENT,
                             lr_schedule="cosine", val_size=val_size, test_every_epoch=False)
    return RunSpec("mlp_tuned", model="mlp", settings=settings)


def val_size_for(n_train: int) -> int:
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
MODEL_LABELS = {
    "lenet5": "LeNet-5", "mlp": "CustomMLP", "lenet5_permuted": "LeNet-5, permuted pixels",
    "mlp_permuted": "CustomMLP, permuted pixels", "lenet5_1998": "LeNet-5, 1998 partial C3",
    "mlp_tuned": "CustomMLP, tuned on validation",
}

# The regularization issue's targets (full MNIST, mean over the seeds).
TARGET_BASELINE = 0.990
TARGET_BEST_ARM = 0.995
TARGET_BEST_ARM_P = 0.01
TARGET_MLP = 0.980


@dataclass
class Study:
    """Every run the report reads, trained where missing and loaded once; notebooks, CLI and README read this.

    `seeds`/`epochs` are the report's (quick mode: fewer); each experiment group is swept on first use.
    """

    data: MnistArrays
    results_dir: Path | None = None
    seeds: tuple[int, ...] = SEEDS
    comparison_epochs: int = COMPARISON_EPOCHS
    study_epochs: int = FULL_EPOCHS
    retrain: bool = False
    device: str | None = None
    jobs: int | str = 1
    log: Any = print
    train_missing: bool = True  # False: a run that is not stored is an error (tests, README regeneration)
    _cache: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    # -- the experiments ---------------------------------------------------------------------------------
    def specs(self, group: str) -> list[RunSpec]:
        """The run specs of one group: "template", "arms" (with the tuned MLP last) or "why_cnn"."""
        val_size = val_size_for(self.data.n_train)
        if group == "template":
            return comparison_specs(self.comparison_epochs)
        if group == "arms":
            return [*regularization_arms(self.study_epochs, val_size=val_size),
                    tuned_mlp_spec(self.study_epochs, val_size=val_size)]
        if group == "why_cnn":
            return why_cnn_specs(self.comparison_epochs)
        raise ValueError(f"unknown group {group!r}; choose template, arms or why_cnn")

    def group(self, group: str) -> list[dict[str, Any]]:
        """Every (spec, seed) of a group: stored runs loaded, missing ones trained (jobs in parallel)."""
        if group not in self._cache:
            seeds = self.seeds[:len(WHY_CNN_SEEDS)] if group == "why_cnn" else self.seeds  # why-CNN: the first seeds
            self._cache[group] = sweep(self.specs(group), seeds, self.data, self.results_dir, retrain=self.retrain,
                                       device=self.device, jobs=self.jobs, keep_weights=group == "template",
                                       log=self.log, train_missing=self.train_missing)
        return self._cache[group]

    def runs(self, name: str) -> list[dict[str, Any]]:
        """The runs of one spec name (sorted by seed), from whichever group holds it."""
        for group in ("template", "arms", "why_cnn"):
            if name in {spec.name for spec in self.specs(group)}:
                return sorted((r for r in self.group(group) if r["name"] == name), key=lambda r: r["seed"])
        raise KeyError(f"no run named {name!r} in this study")

    def accuracies(self, name: str) -> list[float]:
        return [r["final_test_acc"] for r in self.runs(name)]

    def predictions(self, name: str) -> np.ndarray:
        """Seeds x test images: the digit each run predicted for each test image (stored with the run)."""
        return np.array([np.frombuffer(r["test_predictions"].encode(), np.uint8) - ord("0")
                         for r in self.runs(name)], dtype=np.int64)

    def correct(self, name: str) -> np.ndarray:
        """Seeds x test images, 1 where that run classified that test image right (for the bootstrap)."""
        return (self.predictions(name) == self.data.test_labels.numpy()).astype(np.float64)

    # -- comparisons -----------------------------------------------------------------------------------------
    def compare(self, names: list[str], baseline: str, family: int | None = None
                ) -> tuple[list[dict[str, Any]], str, float]:
        """`compare_arms` over these runs, with the test chosen from the seed correlation and the bootstrap.

        Returns (rows, test, correlation); every row carries its label and its mean validation accuracy. `family`:
        how many comparisons will be adjusted together, when more than these (for the detectable effect).
        """
        accs = {name: self.accuracies(name) for name in [baseline, *[n for n in names if n != baseline]]}
        test, r = choose_test(accs, baseline)
        rows = compare_arms(accs, baseline, test=test, correct={name: self.correct(name) for name in accs},
                            family=family)
        for row in rows:
            runs = self.runs(row["arm"])
            row["label"] = ARM_LABELS.get(row["arm"]) or MODEL_LABELS.get(row["arm"], row["arm"])
            row["values"] = accs[row["arm"]]
            vals = [run["final_val_acc"] for run in runs if run.get("final_val_acc") is not None]
            row["val_mean"] = statistics.fmean(vals) if vals else float("nan")
            row["parameters"] = runs[0]["parameters"]
            row["n_test"] = self.data.n_test
        return rows, test, r

    @cached_property
    def arm_comparison(self) -> tuple[list[dict[str, Any]], str, float]:
        """The regularization arms against the baseline (the tuned MLP is not an arm)."""
        names = [spec.name for spec in self.specs("arms") if spec.model == "lenet5"]
        return self.compare(names, "baseline")

    @property
    def arm_rows(self) -> list[dict[str, Any]]:
        return self.arm_comparison[0]

    @cached_property
    def best_arm(self) -> dict[str, Any]:
        """The arm with the best mean validation accuracy, the rule declared before reading any test number."""
        return max(self.arm_rows[1:], key=lambda row: row["val_mean"])

    @cached_property
    def template_comparison(self) -> tuple[list[dict[str, Any]], str, float]:
        """LeNet-5 against CustomMLP (the baseline of this comparison), template settings."""
        return self.compare(["lenet5"], "mlp")

    @cached_property
    def why_cnn_rows(self) -> list[dict[str, Any]]:
        """Notebook 6's four planned comparisons, one row each, Holm-adjusted together as one family.

        LeNet-5 vs CustomMLP on permuted pixels (what LeNet-5 keeps without locality), each model permuted vs
        not, and the 1998 partial C3 vs our full C3.
        """
        self.group("why_cnn")
        pairs = [("lenet5_permuted", "mlp_permuted"), ("mlp_permuted", "mlp"), ("lenet5_permuted", "lenet5"),
                 ("lenet5_1998", "lenet5")]
        rows = []
        for name, baseline in pairs:
            compared, test, r = self.compare([name], baseline, family=len(pairs))
            rows.append({**compared[1], "baseline": baseline, "baseline_label": compared[0]["label"],
                         "baseline_mean": compared[0]["mean"], "test": test, "correlation": r})
        return adjust_family(rows)

    def targets(self) -> list[dict[str, Any]]:
        """Each target of the assignment beside the measured number, with the adjusted p of the arm picked on
        validation."""
        rows = self.arm_rows
        baseline, best = rows[0], self.best_arm
        mlp = self.accuracies("mlp_tuned")
        mlp_mean = statistics.fmean(mlp)
        return [
            {"target": f"LeNet-5 baseline ≥ {100 * TARGET_BASELINE:.1f}%",
             "measured": f"{100 * baseline['mean']:.2f}% ({baseline['n']} seeds)",
             "met": baseline["mean"] >= TARGET_BASELINE},
            {"target": f"best arm (picked on validation) ≥ {100 * TARGET_BEST_ARM:.1f}%",
             "measured": f"{100 * best['mean']:.2f}% ({best['label']}, {best['n']} seeds)",
             "met": best["mean"] >= TARGET_BEST_ARM},
            {"target": f"best arm better than the baseline, Holm-adjusted p < {TARGET_BEST_ARM_P:g}",
             "measured": f"adjusted p = {best['p_adjusted']:.2g} ({100 * best['difference']:+.2f} points)",
             "met": bool(best["p_adjusted"] < TARGET_BEST_ARM_P and best["difference"] > 0)},
            {"target": f"CustomMLP ≥ {100 * TARGET_MLP:.1f}%",
             "measured": f"{100 * mlp_mean:.2f}% (tuned recipe, {len(mlp)} seeds)", "met": mlp_mean >= TARGET_MLP},
        ]
