"""Tables and the phrases notebooks build sentences from: every number is a row's, and the words follow the verdicts."""

from __future__ import annotations

import math

import numpy as np
from conftest import ARMS

from mnistlib import stats, study, tables


def _row(verdict: str, difference: float = 0.001, family: int = 3) -> dict:
    return {"arm": "dropout", "label": "Dropout 0.25", "baseline_label": "Baseline", "verdict": verdict,
            "difference": difference, "ci_low": -0.0004, "ci_high": 0.0024, "seed_ci_low": 0.0002,
            "seed_ci_high": 0.0018, "n": 10, "n_test": 10_000, "design": "paired", "p_adjusted": 0.21,
            "seed_p_adjusted": 0.03, "family": family, "mean": 0.992, "baseline_mean": 0.991}


def test_evidence_gives_both_intervals_the_design_and_holm_only_for_a_family():
    text = tables.evidence(_row(stats.NO_DIFFERENCE))
    assert text.startswith("+0.10 points (95% CI -0.04 to +0.24 for new seeds and new test images; +10 of 10,000")
    assert "paired by seed over 10 seeds, Holm-adjusted over 3 comparisons, p = 0.210" in text
    assert "on this test set alone 95% CI +0.02 to +0.18, p = 0.030" in text
    assert "Holm" not in tables.evidence(_row(stats.NO_DIFFERENCE, family=1))
    untested = {"n": 2, "difference": -0.005, "untested": True}
    assert tables.evidence(untested) == "-0.50 points; too few seeds (2) for a test"
    assert tables.verdict_text(untested) == "not tested (2 seeds)"


def test_verdict_words_for_models_say_higher_or_lower_with_the_same_qualifier():
    assert tables.verdict_text(_row(stats.HELPS), models=True) == "higher"
    assert tables.verdict_text(_row(stats.HURTS_THIS_TEST_SET), models=True) == \
        "lower on this test set (not shown for new digits)"
    assert tables.verdict_text(_row(stats.HELPS_THIS_TEST_SET)) == stats.HELPS_THIS_TEST_SET
    assert "equivalent" not in tables.verdict_text(_row(stats.NO_DIFFERENCE))


def test_cells_print_no_stray_equals_and_no_negative_zero():
    assert tables.p_text(0.0123) == "0.012" and tables.p_text(0.0004) == "< 0.001" and tables.p_text(math.nan) == ""
    assert tables.points(-0.000001) == "+0.00" and tables.points(0.0123) == "+1.23"
    assert tables.p_words(0.0004) == "< 0.001" and tables.p_words(0.5) == "= 0.500"


def test_comparison_tables_have_the_baseline_first_and_every_verdict(planted):
    data, results = planted
    runs = study.train("arms", ARMS, range(4), data, results, log=None)
    rows = study.compare(runs, [(arm.name, "baseline") for arm in ARMS[1:]], data.test_labels.numpy())
    full, compact = tables.comparison_table(rows), tables.comparison_table(rows, compact=True)
    assert full.count("\n") == compact.count("\n") == len(rows) + 2
    assert full.splitlines()[2].startswith("| Baseline | 4 |") and full.splitlines()[2].endswith("| baseline |")
    for row in rows:
        assert f"| {row['label']} |" in compact and tables.verdict_text(row) in full
    assert "Holm p, this test set" in full and "Holm p, this test set" not in compact
    pair = tables.pair_table(rows)
    assert all(f"{row['label']} vs Baseline" in pair for row in rows)


def test_tuning_table_marks_the_winner():
    record = {"winner": "mlp-78", "seeds": [0, 1, 2], "candidates": [
        {"name": n, "mean_val_acc": m, "val_acc": [m] * 3, "parameters": 1} for n, m in (("mlp-74-42", 0.98),
                                                                                      ("mlp-78", 0.99))]}
    shown = tables.tuning_table(record, "hidden sizes").splitlines()
    assert shown[2].startswith("| **mlp-78** (chosen) |") and "98.00%" in shown[3]


def test_error_table_gives_mean_and_sd_of_seeds_and_published_points():
    text = tables.error_table([("ours", [0.99, 0.98], "2 seeds"), ("paper", 0.9905, "published")])
    assert "| ours | 1.50% ± 0.71 | 2 seeds |" in text and "| paper | 0.95% | published |" in text


def test_confused_pairs_sum_over_runs():
    truth = np.array([1, 1, 7, 7])
    matrices = [tables.confusion(np.array([7, 1, 1, 7]), truth), tables.confusion(np.array([7, 1, 7, 7]), truth)]
    text = tables.confused_pairs_table(matrices)
    assert "| 1 | 7 | 2 | 1.0 |" in text and "| 7 | 1 | 1 | 0.5 |" in text
