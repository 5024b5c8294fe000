"""What the notebooks share, here and nowhere else: the design (the template's settings, seeds, validation size), the
experiments notebooks 3 and 4 record for later ones, the comparisons and the pick of the best arm on validation."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistfiles.io import read_json, write_json
from mnistlib import paths, stats
from mnistlib.data import MnistArrays
from mnistlib.experiments import RunSpec, final_val_acc, sweep
from mnistlib.training import TrainSettings

TEMPLATE = TrainSettings(epochs=10)  # the course template: SGD lr 0.01, momentum 0.9, batch 64, cross-entropy
SEEDS = tuple(range(10))
STUDY_EPOCHS = 15  # the regularization study's runs
VAL_SIZE = 5000  # training images held out for validation (a tenth of a smaller training set)
QUICK_SEEDS, QUICK_EPOCHS = (0, 1), 2  # quick mode: a smoke test of the pipeline, not a study
MIN_SEEDS_FOR_TESTS = 3  # fewer seeds per group: means are shown, no test, interval or verdict
TUNING_DIR = paths.RESULTS_DIR / "tuning"
PUBLISHED_LENET5_ERROR = 0.0095  # LeCun et al. 1998, Fig. 9: LeNet-5 without distortions
PUBLISHED_LENET5_ERROR_DISTORTED = 0.0080  # the same, trained with distortions


def load_decision(name: str, tuning_dir: str | Path | None = None) -> dict[str, Any]:
    """A choice made on the validation split, as scripts/tune_on_validation.py recorded it (every candidate's mean)."""
    return read_json(Path(tuning_dir or TUNING_DIR) / f"{name}.json")


def winner(record: dict[str, Any]) -> RunSpec:
    """The spec of the candidate a validation decision chose, as it was trained in the tuning runs."""
    return RunSpec.from_dict(next(c["spec"] for c in record["candidates"] if c["name"] == record["winner"]))


def planning_sd(record: dict[str, Any]) -> float:
    """The seed-to-seed SD of one configuration's accuracy, pooled over a tuning record's candidates: measured on
    validation runs before the study, so the power it plans is not read off the study's own results."""
    return statistics.fmean(statistics.variance(c["val_acc"]) for c in record["candidates"]) ** 0.5


def val_size_for(n_train: int) -> int:
    """5,000 held out of full MNIST, a tenth of a smaller training set."""
    return min(VAL_SIZE, n_train // 10)


@dataclass
class Experiment:
    """Named runs of one or more notebooks: each spec's runs in seed order, and the design the notebook declared."""

    specs: dict[str, RunSpec]
    runs: dict[str, list[dict[str, Any]]]
    design: dict[str, Any]

    def __or__(self, other: Experiment) -> Experiment:
        """Both experiments' runs, to compare across them (notebook 6 against notebook 3's runs)."""
        return Experiment({**self.specs, **other.specs}, {**self.runs, **other.runs}, {**other.design, **self.design})

    def label(self, name: str) -> str:
        return self.specs[name].title

    def accuracies(self, name: str) -> list[float]:
        return [r["final_test_acc"] for r in self.runs[name]]

    def val_accuracies(self, name: str) -> list[float]:
        return [final_val_acc(r) for r in self.runs[name]]

    def histories(self, name: str) -> list[list[dict[str, float]]]:
        return [r["history"] for r in self.runs[name]]

    def predictions(self, name: str) -> np.ndarray:
        """Seeds x test images: the digit each run predicted for each test image (stored with the run)."""
        return np.array([np.frombuffer(r["test_predictions"].encode(), np.uint8) - ord("0") for r in self.runs[name]],
                        dtype=np.int64)

    def correct(self, name: str, labels: np.ndarray) -> dict[int, np.ndarray]:
        """Seed -> 0/1 per test image (1: that run classified that image right): what the statistics compare."""
        return {r["seed"]: row == labels for r, row in zip(self.runs[name], self.predictions(name), strict=True)}


def _manifest(name: str, results_dir: str | Path | None) -> Path:
    return paths.results_dir(results_dir) / "experiments" / f"{name}.json"


def _experiment(specs: Sequence[RunSpec], results: list[dict[str, Any]], design: dict[str, Any]) -> Experiment:
    """The sweep's results grouped by spec, in seed order."""
    runs = {spec.name: [r for r in results if r["name"] == spec.name] for spec in specs}
    return Experiment({spec.name: spec for spec in specs}, runs, design)


def train(name: str, specs: Sequence[RunSpec], seeds: Sequence[int], data: MnistArrays,
          results_dir: str | Path | None = None, *, design: dict[str, Any] | None = None, keep_weights: bool = False,
          retrain: bool = False, jobs: int | str = 1, log: Callable[[str], None] | None = print) -> Experiment:
    """Train what is not stored (or is stale), load the rest, and record the experiment under `name`: later notebooks
    `load` it with the same specs, seeds and design."""
    results = sweep(specs, seeds, data, results_dir, retrain=retrain, jobs=jobs, keep_weights=keep_weights, log=log)
    manifest = {"name": name, "seeds": list(seeds), "keep_weights": keep_weights, "design": design or {},
                "specs": [spec.to_dict() for spec in specs]}
    path = _manifest(name, results_dir)
    if not path.exists() or read_json(path) != manifest:  # unchanged files stay untouched (quiet in git)
        write_json(path, manifest)
    return _experiment(specs, results, design or {})


def load(name: str, data: MnistArrays, results_dir: str | Path | None = None) -> Experiment:
    """An experiment an earlier notebook trained, its runs current; a missing or stale one is an error saying why."""
    path = _manifest(name, results_dir)
    if not path.exists():
        raise FileNotFoundError(f"{paths.shown(path)}: no experiment {name!r} recorded; run the notebook that trains "
                                "it first (or `make report`)")
    manifest = read_json(path)
    specs = [RunSpec.from_dict(spec) for spec in manifest["specs"]]
    results = sweep(specs, manifest["seeds"], data, results_dir, keep_weights=manifest["keep_weights"],
                    train_missing=False, log=None)
    return _experiment(specs, results, manifest["design"])


def compare(experiment: Experiment, pairs: Sequence[tuple[str, str]], labels: np.ndarray) -> list[dict[str, Any]]:
    """One row per (arm, baseline) pair, Holm-adjusted as one family; runs of a seed are paired (same split, data
    order and initial weights). Under `MIN_SEEDS_FOR_TESTS` seeds: means and difference only, "not tested"."""
    rows, correct = [], {name: experiment.correct(name, labels) for name in {n for pair in pairs for n in pair}}
    for arm, baseline in pairs:
        a, b = correct[arm], correct[baseline]  # each group's predictions decoded once, not once per pair
        shared = set(a) & set(b)  # paired on these when there are any (stats.compare), else Welch on all
        if (len(shared) if shared else min(len(a), len(b))) < MIN_SEEDS_FOR_TESTS:
            mean_a, mean_b = (float(np.mean([v.mean() for v in group.values()])) for group in (a, b))
            row = {"n": len(shared) or min(len(a), len(b)), "mean": mean_a, "baseline_mean": mean_b,
                   "difference": mean_a - mean_b, "untested": True}
        else:
            row = stats.compare(a, b)
        rows.append({**row, "arm": arm, "baseline": baseline, "label": experiment.label(arm),
                     "baseline_label": experiment.label(baseline), "n_test": len(labels),
                     "parameters": experiment.runs[arm][0]["parameters"]})
    stats.adjust_family([row for row in rows if not row.get("untested")])  # adds adjusted p-values and verdicts
    return rows


def best_arm(experiment: Experiment, candidates: Sequence[str]) -> str:
    """The candidate with the highest mean validation accuracy: the rule fixed before any test number was read."""
    return stats.best_by_validation({name: experiment.val_accuracies(name) for name in candidates})
