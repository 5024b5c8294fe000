"""The study's arms, the choices made on validation, and the target check."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mnistlib import study

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


def test_tuned_choices_are_the_validation_winners_in_the_committed_record():
    record = json.loads((REPO / study.TUNING_RECORD).read_text())
    assert all("test_acc" not in json.dumps(entry) for entry in record.values()), "test accuracy leaked into tuning"

    def winner(family: str) -> dict:
        entries = [e for e in record.values() if e["family"] == family]
        return max(entries, key=lambda e: e["final_val_acc"])  # ties: the first tried

    lenet = winner("lenet5")["spec"]["settings"]
    assert lenet["lr"] == study.TUNED_LENET_LR
    mlp = winner("mlp")["spec"]["settings"]
    spec = study.tuned_mlp_spec()
    assert (mlp["lr"], mlp["augment"], mlp["epochs"]) == (spec.settings.lr, spec.settings.augment, spec.settings.epochs)
    assert spec.model == "mlp" and spec.settings.val_size == study.VAL_SIZE


def test_tuned_mlp_for_a_small_set_holds_out_a_tenth():
    spec = study.tuned_mlp_for(4000, epochs=2)
    assert spec.settings.val_size == 400 and spec.settings.epochs == study.TUNED_MLP_EPOCH_FACTOR * 2


def _row(arm, mean, n=5, p=float("nan"), difference=0.0):
    return {"arm": arm, "label": arm, "mean": mean, "n": n, "p_value": p, "difference": difference}


def test_target_table_says_met_and_not_met_from_the_numbers():
    rows = [_row("baseline", 0.9915), _row("a", 0.9951, p=0.004, difference=0.0036),
            _row("b", 0.9960, p=0.02, difference=0.0045)]
    met = {t["target"]: t["met"] for t in study.target_table(rows, [0.981, 0.979, 0.982])}
    assert list(met.values()) == [True, True, False, True]  # best arm is "b": 99.60% but p = 0.02
    assert "99.60%" in study.target_table(rows, [0.98])[1]["measured"]
    low = study.target_table([_row("baseline", 0.989), _row("a", 0.992, p=0.001, difference=0.003)], [0.97])
    assert [t["met"] for t in low] == [False, False, True, False]


def test_target_table_with_a_worse_arm_is_not_significantly_better():
    rows = [_row("baseline", 0.992), _row("a", 0.990, p=0.001, difference=-0.002)]
    assert study.target_table(rows, [0.98])[2]["met"] is False
    with pytest.raises(IndexError):
        study.target_table([], [0.98])
