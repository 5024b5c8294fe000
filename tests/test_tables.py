"""Tables and generated sentences: every number in them is the study's, and the words follow the verdicts."""

from __future__ import annotations

import math

import numpy as np

from mnistlib import tables
from mnistlib.stats import HELPS, HURTS


def _row(verdict: str, difference: float = 0.001, mde: float = 0.0012) -> dict:
    return {"label": "Dropout 0.25", "verdict": verdict, "difference": difference, "diff_ci_low": -0.0004,
            "diff_ci_high": 0.0024, "n": 10, "n_test": 10_000, "test": "welch", "p_value": 0.03, "p_adjusted": 0.21,
            "mde": mde, "boot_diff_ci_low": -0.0006, "boot_diff_ci_high": 0.0025, "boot_p_adjusted": 0.4,
            "mean": 0.992, "ci_low": 0.991, "ci_high": 0.993, "values": [0.992] * 10}


def test_no_effect_is_worded_as_what_the_design_could_detect():
    row = _row("no effect detected")
    assert tables.verdict_text(row) == "no effect larger than ±0.12 points detected"
    sentence = tables.finding(row)
    assert sentence.startswith("**Dropout 0.25: no effect larger than ±0.12 points detected**")
    assert "+0.10 points (95% CI -0.04 to +0.24; +10 of 10,000 test images)" in sentence
    assert "Holm-adjusted p = 0.210" in sentence and "helps" not in sentence
    assert tables.verdict_text({**row, "mde": math.nan}) == "no effect detected"


def test_a_direction_is_said_only_with_its_verdict():
    assert tables.finding(_row(HELPS)).startswith("**Dropout 0.25 helps**")
    assert tables.finding(_row(HURTS, difference=-0.002)).startswith("**Dropout 0.25 hurts**")


def test_cells_print_no_stray_equals_and_no_negative_zero():
    assert tables.p_cell(0.0123) == "0.012" and tables.p_cell(0.0004) == "< 0.001" and tables.p_cell(math.nan) == ""
    assert tables.points(-0.000001) == "+0.00" and tables.points(0.0123) == "+1.23"
    assert tables.images(-0.0021, 10_000) == "-21 of 10,000"


def test_every_table_and_sentence_builds_from_a_study(planted_study):
    rows = planted_study.arm_rows
    full, compact = tables.comparison_table(rows), tables.comparison_table(rows, compact=True)
    assert full.count("\n") == compact.count("\n") == len(rows) + 1
    for row in rows[1:]:
        assert f"| {row['label']} |" in compact and tables.verdict_text(row) in full
    headline = tables.regularization_headline(planted_study)
    assert headline.startswith("### ") and f"{len(rows) - 1} arms" in headline
    assert all(tables.finding(row) in tables.arm_findings(planted_study) for row in rows[1:])
    assert "LeNet-5 against CustomMLP" in tables.template_paragraph(planted_study)
    assert "0.95%" in tables.published_table(planted_study)
    for text in (tables.why_cnn_findings(planted_study), tables.pair_table(planted_study.why_cnn_rows)):
        assert "permuted" in text


def test_decisions_paragraph_names_each_winner_from_its_record(planted_study):
    def record(winner: str, names: list[str]) -> dict:
        return {"winner": winner, "seeds": [0, 1, 2], "winner_at_edge": winner.endswith("30 epochs"), "val_size": 5000,
                "candidates": [{"name": n, "mean_val_acc": 0.99, "val_acc": [0.99] * 3, "parameters": 1}
                               for n in names]}

    records = {"mlp_shape": record("mlp-78", ["mlp-78", "mlp-74-42"]),
               "lenet_lr": record("all_combined lr 0.1", ["all_combined lr 0.05", "all_combined lr 0.1"]),
               "mlp_recipe": record("mlp lr 0.02 aug 30 epochs", ["mlp lr 0.02 aug 30 epochs"])}
    text = tables.decisions_paragraph(planted_study, records)
    assert "**mlp-78** among 2 shapes" in text and "**0.1** from 0.05, 0.1" in text
    assert "**mlp lr 0.02 aug 30 epochs**" in text and "3 seeds" in text and "5,000 training images held out" in text
    assert "dropout 0.25, weight decay 0.0005, rotation ±10°, translation 10%, scale 0.9-1.1" in text
    assert text.count("still on its grid's edge") == 1 and "The recipe winner is still on" in text
    shown = tables.tuning_table(records["mlp_shape"], "hidden sizes")
    assert "**mlp-78** (chosen)" in shown


def test_robustness_findings_read_the_curves():
    curves = {"shifts": list(range(7)), "angles": list(range(-30, 31, 5)),
              "lenet5": {"shift": np.tile(np.linspace(0.99, 0.3, 7), (2, 1)), "angle": np.full((2, 13), 0.8)}}
    text = tables.robustness_findings(curves, {"lenet5": "LeNet-5"})
    assert "**LeNet-5**: 99.00% unmoved" in text and "at 6 pixels" in text and "80.0% at ±30°" in text


def test_two_models_read_higher_or_lower_not_helps():
    row = {**_row(HELPS), "label": "LeNet-5"}
    assert tables.finding(row, "LeNet-5 against CustomMLP", tables.MODELS).startswith(
        "**LeNet-5 against CustomMLP: higher accuracy**")
    assert tables.verdict_text({**row, "verdict": HURTS}, tables.MODELS) == "lower"
