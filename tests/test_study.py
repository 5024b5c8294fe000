"""The study's arms, the choices made on validation, and how `Study` turns runs into verdicts and targets."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from mnistlib import study
from mnistlib.models import CustomMLP, build_model, count_parameters
from mnistlib.stats import verdict

REPO = Path(__file__).resolve().parent.parent


def test_arms_differ_from_the_protocol_only_where_named():
    arms = {arm.name: arm for arm in study.regularization_arms()}
    base = arms["baseline"].settings
    assert list(arms)[0] == "baseline" and len(arms) == 8
    for name, arm in arms.items():
        same = (arm.settings.epochs, arm.settings.batch_size, arm.settings.val_size, arm.settings.lr_schedule)
        assert same == (base.epochs, base.batch_size, base.val_size, base.lr_schedule), name
        if name != "all_combined_tuned_lr":
            assert (arm.settings.lr, arm.settings.momentum) == (0.01, 0.9), name
    tuned, combined = arms["all_combined_tuned_lr"], arms["all_combined"]
    assert tuned.settings == replace(combined.settings, lr=study.TUNED_LENET_LR)
    assert (tuned.batch_norm, tuned.dropout) == (combined.batch_norm, combined.dropout)


def test_every_choice_is_the_validation_winner_in_the_committed_records(tuning):
    shape = study.load_decision("mlp_shape", REPO / "results" / "tuning")
    winner = next(c for c in shape["candidates"] if c["name"] == shape["winner"])
    assert build_model(shape["winner"]).state_dict().keys() == CustomMLP().state_dict().keys()
    assert count_parameters(CustomMLP()) == winner["parameters"]
    assert f"{100 * winner['mean_val_acc']:.2f}%" in CustomMLP.__doc__  # the docstring quotes validation numbers

    lenet = study.load_decision("lenet_lr", REPO / "results" / "tuning")
    chosen = next(c for c in lenet["candidates"] if c["name"] == lenet["winner"])
    assert chosen["spec"]["settings"]["lr"] == study.TUNED_LENET_LR and not lenet["winner_at_edge"]

    recipe = study.load_decision("mlp_recipe", REPO / "results" / "tuning")
    settings = next(c for c in recipe["candidates"] if c["name"] == recipe["winner"])["spec"]["settings"]
    spec = study.tuned_mlp_spec()
    assert (settings["lr"], settings["augment"], settings["epochs"]) == (
        spec.settings.lr, spec.settings.augment, spec.settings.epochs)
    for record in (shape, lenet, recipe):
        assert len(record["seeds"]) >= 3 and record["val_size"] == study.VAL_SIZE
        assert "test" not in str([c["spec"] for c in record["candidates"]]).replace("test_every_epoch", "")
        means = {c["name"]: c["mean_val_acc"] for c in record["candidates"]}
        assert record["winner"] == tuning.winner({k: {"mean": v} for k, v in means.items()})


def test_tuning_winner_breaks_exact_ties_by_grid_order(tuning):
    assert tuning.winner({"a": {"mean": 0.98}, "b": {"mean": 0.99}, "c": {"mean": 0.99}}) == "b"


def test_a_winner_on_the_grid_edge_extends_the_grid(tuning):
    base = next(arm for arm in study.regularization_arms() if arm.name == "all_combined")
    grid = tuning.lenet_lr_candidates(base, (0.05, 0.1, 0.2))
    assert tuning._past_the_edge(grid, grid[-1].name, ["lr"]).settings.lr == 0.4
    assert tuning._past_the_edge(grid, grid[0].name, ["lr"]).settings.lr == 0.025
    assert tuning._past_the_edge(grid, grid[1].name, ["lr"]) is None


def test_best_arm_is_picked_on_validation_not_test(planted_study: study.Study):
    by_test = max(planted_study.arm_rows[1:], key=lambda row: row["mean"])
    assert by_test["arm"] == "augmentation"
    assert planted_study.best_arm["arm"] == "dropout"  # the rule reads validation only


def test_every_arm_verdict_is_the_adjusted_one(planted_study: study.Study):
    rows = planted_study.arm_rows
    assert rows[0]["arm"] == "baseline" and {row["arm"] for row in rows} == {
        spec.name for spec in planted_study.specs("arms") if spec.model == "lenet5"}
    for row in rows[1:]:
        assert row["verdict"] == verdict(row["p_adjusted"], row["difference"])
        assert row["p_adjusted"] >= row["p_value"] and not math.isnan(row["mde"])
        assert row["boot_verdict"] == verdict(row["boot_p_adjusted"], row["difference"])


def test_targets_use_the_adjusted_p_of_the_arm_picked_on_validation(planted_study: study.Study):
    targets = planted_study.targets()
    best = planted_study.best_arm
    assert best["label"] in targets[1]["measured"]
    assert targets[2]["measured"].startswith(f"adjusted p = {best['p_adjusted']:.2g}")
    assert targets[2]["met"] is False  # dropout is worse on test: never "better than the baseline"


def test_why_cnn_rows_are_one_holm_family_and_their_detectable_effect_uses_its_level(planted_study: study.Study):
    """Notebook 6's four comparisons are adjusted together, so what they could detect is judged at 0.05 / 4."""
    from mnistlib.stats import holm_adjust, min_detectable_effect

    rows = planted_study.why_cnn_rows
    assert len(rows) == 4
    assert [row["p_adjusted"] for row in rows] == holm_adjust([row["p_value"] for row in rows])
    for row in rows:
        arm, base = planted_study.accuracies(row["arm"]), planted_study.accuracies(row["baseline"])
        expected = min_detectable_effect(arm, base, 0.05 / 4, paired=row["test"] == "paired")
        assert row["mde"] == pytest.approx(expected)
        assert row["mde"] > min_detectable_effect(arm, base, 0.05, paired=row["test"] == "paired")


def test_decide_records_every_candidate_on_validation_only(tuning, sample_data, tmp_path: Path):
    """A whole decision on a tiny grid: the record names the winner by the rule, each candidate's parameter count,
    and no run scored the test set."""
    from mnistlib.data import MnistArrays
    from mnistlib.io import read_json

    data = MnistArrays(sample_data.train_images[:600], sample_data.train_labels[:600],
                       sample_data.test_images[:100], sample_data.test_labels[:100], "sample", "")
    candidates = tuning.mlp_shape_candidates(epochs=1, val_size=100)[:2]
    record = tuning.decide("shape", candidates, data, seeds=(0,), tuning_dir=tmp_path)
    assert record == read_json(tmp_path / "shape.json")
    assert record["winner"] == tuning.winner({c["name"]: {"mean": c["mean_val_acc"]} for c in record["candidates"]})
    for candidate, spec in zip(record["candidates"], candidates, strict=True):
        assert candidate["parameters"] == count_parameters(build_model(spec.model))
    for run in (tmp_path / "runs").glob("*.json"):
        assert read_json(run)["final_test_acc"] is None
