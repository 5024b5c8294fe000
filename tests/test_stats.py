"""Known-answer tests for mnistlib.stats: textbook values, hand formulae and scipy as references."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from mnistlib.stats import (
    Summary,
    bootstrap_difference,
    choose_test,
    compare_arms,
    format_pct,
    holm_adjust,
    min_detectable_effect,
    paired_test,
    summarize,
    welch_test,
)

# Classic Welch's t-test example (Wikipedia "Welch's t-test", A1 vs A2); values re-derived below by hand.
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def _hand_var(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)


# ---------------------------------------------------------------- summarize


def test_summarize_known_interval() -> None:
    s = summarize([1, 2, 3, 4, 5])
    assert isinstance(s, Summary)
    assert s.n == 5 and s.mean == 3.0 and s.confidence == 0.95
    assert s.std == pytest.approx(math.sqrt(2.5), rel=1e-12)
    # 3 ± 2.776 * sqrt(2.5) / sqrt(5), with t_{0.975,4} = 2.7764451 from tables.
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)
    assert (s.ci_low, s.ci_high) == pytest.approx((3 - half, 3 + half), abs=1e-6)
    assert (s.ci_low, s.ci_high) == pytest.approx((1.0367, 4.9633), abs=1e-4)


def test_summarize_confidence_level_is_used() -> None:
    s = summarize([1, 2, 3, 4, 5], confidence=0.99)
    half = 4.6040949 * math.sqrt(2.5) / math.sqrt(5)  # t_{0.995,4} from tables
    assert (s.ci_low, s.ci_high) == pytest.approx((3 - half, 3 + half), abs=1e-6)
    assert s.confidence == 0.99


def test_summarize_single_value_has_no_interval() -> None:
    s = summarize([0.98])
    assert s.n == 1 and s.mean == 0.98 and s.std == 0.0
    assert math.isnan(s.ci_low) and math.isnan(s.ci_high)


def test_summarize_constant_values_have_exactly_zero_spread() -> None:
    # np.var([0.9912] * 5, ddof=1) is ~1.5e-32, not 0; the summary must not carry that noise.
    s = summarize([0.9912] * 5)
    assert s.mean == 0.9912 and s.std == 0.0
    assert s.ci_low == s.ci_high == 0.9912


@pytest.mark.parametrize("bad", [[], [0.9, float("nan")], [0.9, float("inf")], [[0.9, 0.8]]])
def test_summarize_rejects_bad_input(bad: list) -> None:
    with pytest.raises(ValueError):
        summarize(bad)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95])
def test_summarize_rejects_bad_confidence(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        summarize([1, 2, 3], confidence=confidence)


# ---------------------------------------------------------------- welch_test


def test_welch_textbook_example() -> None:
    c = welch_test(A1, A2)
    assert c.test == "welch" and c.alpha == 0.05
    assert c.t == pytest.approx(-2.4554, abs=1e-4)
    assert c.df == pytest.approx(24.99, abs=0.005)  # Welch–Satterthwaite gives 24.9885
    assert c.p_value == pytest.approx(0.02138, abs=1e-5)
    assert c.arm_mean == pytest.approx(20.82) and c.baseline_mean == pytest.approx(22.98667, abs=1e-5)
    assert c.difference == pytest.approx(20.82 - 22.986667, abs=1e-6)
    assert c.verdict == "hurts"


def test_welch_matches_hand_formulae() -> None:
    va, vb, n = _hand_var(A1), _hand_var(A2), len(A1)
    se2 = va / n + vb / n
    t = (sum(A1) / n - sum(A2) / n) / math.sqrt(se2)
    df = se2**2 / ((va / n) ** 2 / (n - 1) + (vb / n) ** 2 / (n - 1))
    c = welch_test(A1, A2, confidence=0.90)
    assert c.t == pytest.approx(t, rel=1e-10)
    assert c.df == pytest.approx(df, rel=1e-10)
    assert c.p_value == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-10)
    half = stats.t.ppf(0.95, df) * math.sqrt(se2)
    assert (c.ci_low, c.ci_high) == pytest.approx((c.difference - half, c.difference + half), rel=1e-10)
    assert c.confidence == 0.90


@pytest.mark.parametrize("seed", range(5))
def test_welch_matches_scipy_ttest_ind(seed: int) -> None:
    rng = np.random.default_rng(seed)
    arm = rng.normal(0.985, 0.002, size=5 + seed)
    base = rng.normal(0.984, 0.004, size=7)
    ref = stats.ttest_ind(arm, base, equal_var=False)
    c = welch_test(arm, base)
    assert (c.t, c.df, c.p_value) == pytest.approx((ref.statistic, ref.df, ref.pvalue), rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_welch_direction_and_alpha() -> None:
    assert welch_test(A2, A1).verdict == "helps"
    assert welch_test(A2, A1).t == pytest.approx(2.4554, abs=1e-4)
    assert welch_test(A1, A2, alpha=0.01).verdict == "no effect detected"  # p = 0.021 > 0.01


def test_welch_p_equal_to_alpha_is_not_significant() -> None:
    p = welch_test(A2, A1).p_value
    assert welch_test(A2, A1, alpha=p).verdict == "no effect detected"
    assert welch_test(A2, A1, alpha=p * 1.001).verdict == "helps"


def test_welch_no_difference_for_overlapping_arms() -> None:
    c = welch_test([0.981, 0.983, 0.985, 0.982, 0.984], [0.982, 0.984, 0.983, 0.981, 0.985])
    assert c.p_value > 0.5 and c.verdict == "no effect detected"


def test_welch_degenerate_equal_constant_arms() -> None:
    # Same accuracy on every seed in both arms; different sizes make the float means differ in the last bit.
    c = welch_test([0.99] * 7, [0.99] * 3)
    assert c.difference == 0.0 and c.t == 0.0 and c.p_value == 1.0
    assert math.isnan(c.df) and c.ci_low == c.ci_high == 0.0
    assert c.verdict == "no effect detected"


@pytest.mark.parametrize(("arm", "verdict", "sign"), [(0.9920, "helps", 1), (0.9900, "hurts", -1)])
def test_welch_degenerate_different_constant_arms(arm: float, verdict: str, sign: int) -> None:
    c = welch_test([arm] * 5, [0.9910] * 5)
    assert c.p_value == 0.0 and c.t == sign * math.inf and c.verdict == verdict
    assert c.ci_low == c.ci_high == pytest.approx(arm - 0.9910)


def test_welch_one_constant_arm_uses_zero_variance_without_warnings() -> None:
    arm, base = [0.9912] * 5, [0.990, 0.991, 0.992, 0.989, 0.993]
    vb = _hand_var(base)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = welch_test(arm, base)
    assert c.t == pytest.approx((0.9912 - 0.991) / math.sqrt(vb / 5), rel=1e-9)
    assert c.df == pytest.approx(4.0, rel=1e-12)  # all variance from the baseline -> df = n_b - 1


@pytest.mark.parametrize(("arm", "base"), [([0.9], [0.9, 0.8]), ([0.9, 0.8], [0.9])])
def test_welch_needs_two_values_per_arm(arm: list[float], base: list[float]) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        welch_test(arm, base)


# ---------------------------------------------------------------- paired_test


def test_paired_equals_one_sample_test_of_differences() -> None:
    diffs = [x - y for x, y in zip(A1, A2, strict=True)]
    n = len(diffs)
    mean_d = sum(diffs) / n
    t = mean_d / math.sqrt(_hand_var(diffs) / n)
    ref = stats.ttest_1samp(diffs, 0.0)
    c = paired_test(A1, A2)
    assert c.test == "paired" and c.df == n - 1
    assert c.t == pytest.approx(t, rel=1e-10)
    assert (c.t, c.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-10)
    assert c.difference == pytest.approx(mean_d, rel=1e-12)
    ci = ref.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert c.t == pytest.approx(-2.6857, abs=1e-4) and c.p_value == pytest.approx(0.01775, abs=1e-5)


def test_paired_uses_the_pairing() -> None:
    # Big seed-to-seed spread, small consistent gain: only the paired test can see it.
    base = [0.970, 0.980, 0.990, 0.975, 0.985]
    arm = [b + d for b, d in zip(base, [0.0010, 0.0012, 0.0009, 0.0011, 0.0010], strict=True)]
    assert paired_test(arm, base).verdict == "helps"
    assert welch_test(arm, base).verdict == "no effect detected"
    assert paired_test(base, arm).verdict == "hurts"


def test_paired_degenerate_cases() -> None:
    same = paired_test([0.98, 0.99, 0.97], [0.98, 0.99, 0.97])
    assert same.p_value == 1.0 and same.t == 0.0 and same.verdict == "no effect detected"
    shifted = paired_test([3.0, 5.0, 4.0], [1.0, 3.0, 2.0])  # every difference exactly 2
    assert shifted.p_value == 0.0 and shifted.t == math.inf and shifted.verdict == "helps"
    assert shifted.ci_low == shifted.ci_high == 2.0


def test_paired_length_mismatch_names_lengths() -> None:
    with pytest.raises(ValueError, match=r"arm has 3, baseline 2"):
        paired_test([0.9, 0.8, 0.7], [0.9, 0.8])


def test_paired_needs_two_seeds() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        paired_test([0.9], [0.8])


# ---------------------------------------------------------------- compare_arms

RESULTS = {
    "dropout": [0.9841, 0.9852, 0.9838, 0.9846, 0.9850],
    "plain": [0.9801, 0.9812, 0.9795, 0.9808, 0.9803],
    "noise": [0.9799, 0.9815, 0.9790, 0.9811, 0.9806],
}
ROW_KEYS = {"arm", "n", "mean", "std", "ci_low", "ci_high", "difference", "p_value", "verdict"}


def test_compare_arms_rows() -> None:
    rows = compare_arms(RESULTS, "plain")
    assert [r["arm"] for r in rows] == ["plain", "dropout", "noise"]
    base = rows[0]
    assert base["verdict"] == "baseline" and base["difference"] == 0.0 and math.isnan(base["p_value"])
    for row in rows:
        s = summarize(RESULTS[row["arm"]])
        assert row["n"] == 5
        assert (row["mean"], row["std"]) == (s.mean, s.std)
        assert (row["ci_low"], row["ci_high"]) == (s.ci_low, s.ci_high)
        assert set(row) >= ROW_KEYS
    for row in rows[1:]:
        c = welch_test(RESULTS[row["arm"]], RESULTS["plain"])
        assert (row["difference"], row["p_value"]) == (c.difference, c.p_value)
        assert (row["diff_ci_low"], row["diff_ci_high"]) == (c.ci_low, c.ci_high)
    assert rows[1]["verdict"] == "helps" and rows[2]["verdict"] == "no effect detected"


def test_compare_arms_paired_and_alpha() -> None:
    rows = compare_arms(RESULTS, "plain", test="paired", alpha=0.2)
    c = paired_test(RESULTS["noise"], RESULTS["plain"], alpha=0.2)
    assert rows[2]["p_value"] == c.p_value
    assert rows[2]["p_value"] != welch_test(RESULTS["noise"], RESULTS["plain"]).p_value


def test_compare_arms_rejects_bad_arguments() -> None:
    with pytest.raises(KeyError, match="nope"):
        compare_arms(RESULTS, "nope")
    with pytest.raises(ValueError, match="test must be"):
        compare_arms(RESULTS, "plain", test="mann-whitney")


# ---------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("x", "digits", "expected"),
    [
        (0.99123, 2, "99.12%"),
        (0.99127, 2, "99.13%"),
        (1.0, 2, "100.00%"),
        (0.5, 1, "50.0%"),
        (0.98765, 3, "98.765%"),
    ],
)
def test_format_pct(x: float, digits: int, expected: str) -> None:
    assert format_pct(x, digits) == expected


def test_welch_interval_at_90_percent_matches_the_hand_computation() -> None:
    c = welch_test(RESULTS["dropout"], RESULTS["plain"], confidence=0.9)
    # Means 0.98454 and 0.98038; by hand: Welch df 7.918, 90% CI 0.003427 to 0.004893, p 6.1e-6.
    assert c.df == pytest.approx(7.918, abs=1e-3)
    assert (c.ci_low, c.ci_high) == (pytest.approx(0.003427, abs=1e-6), pytest.approx(0.004893, abs=1e-6))
    assert c.p_value == pytest.approx(6.1e-6, rel=0.05) and c.verdict == "helps"


# ---------------------------------------------------------------- Holm adjustment


def test_holm_adjust_known_values_keeps_order_and_nan() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> raised to 0.06 (monotone)
    adjusted = holm_adjust([0.01, 0.04, math.nan, 0.03, 0.005])
    assert adjusted[:2] == pytest.approx([0.03, 0.06]) and math.isnan(adjusted[2])
    assert adjusted[3:] == pytest.approx([0.06, 0.02])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm_adjust([]) == []


def test_compare_arms_adds_holm_adjusted_p() -> None:
    rows = compare_arms(RESULTS, "plain")
    assert math.isnan(rows[0]["p_adjusted"])
    raw = [row["p_value"] for row in rows[1:]]
    assert [row["p_adjusted"] for row in rows[1:]] == pytest.approx(holm_adjust(raw))
    assert all(row["p_adjusted"] >= row["p_value"] for row in rows[1:])


def test_every_verdict_is_the_adjusted_one() -> None:
    # Three arms each at raw p ~ 0.02-0.04: each "helps" alone, none after Holm over three comparisons.
    base = [0.9900, 0.9905, 0.9910, 0.9895, 0.9902]
    arms = {"base": base}
    for name, shift in (("a", 0.0009), ("b", 0.0010), ("c", 0.0008)):
        arms[name] = [v + shift + 0.0004 * ((i * 7 + len(name)) % 3 - 1) for i, v in enumerate(base)]
    rows = compare_arms(arms, "base")
    raw = [welch_test(arms[row["arm"]], base) for row in rows[1:]]
    assert any(c.verdict == "helps" for c in raw)  # what the unadjusted test would have said
    for row, c in zip(rows[1:], raw, strict=True):
        expected = "helps" if row["p_adjusted"] < 0.05 and row["difference"] > 0 else "no effect detected"
        assert row["verdict"] == expected
        assert row["p_adjusted"] >= c.p_value


def test_min_detectable_effect_matches_the_power_formula() -> None:
    a, b = [0.991, 0.992, 0.993, 0.990, 0.994], [0.990, 0.991, 0.989, 0.992, 0.990]
    se2_a, se2_b = np.var(a, ddof=1) / 5, np.var(b, ddof=1) / 5
    df = (se2_a + se2_b) ** 2 / (se2_a**2 / 4 + se2_b**2 / 4)  # Welch-Satterthwaite, as the test itself
    expected = (stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)) * math.sqrt(se2_a + se2_b)
    assert min_detectable_effect(a, b) == pytest.approx(expected)
    # more seeds, same spread: a smaller detectable effect; a stricter level: a larger one
    assert min_detectable_effect(a * 4, b * 4) < min_detectable_effect(a, b) < min_detectable_effect(a, b, alpha=0.01)


def test_choose_test_reads_only_the_seed_correlation() -> None:
    base = [0.990, 0.992, 0.994, 0.991, 0.993]
    shared = {"base": base, "arm": [v + 0.001 for v in base]}  # seed luck shared: r = 1
    assert choose_test(shared, "base") == ("paired", pytest.approx(1.0))
    unrelated = {"base": base, "arm": [0.993, 0.990, 0.992, 0.994, 0.991]}
    test, r = choose_test(unrelated, "base")
    assert test == "welch" and r < 0.3


def test_bootstrap_covers_both_noise_sources() -> None:
    rng = np.random.default_rng(1)
    n_images = 2000
    hard = rng.random(n_images) < 0.05  # the same hard images trip both arms: pairing by image matters
    base = np.array([(~hard) & (rng.random(n_images) > 0.01) for _ in range(5)], dtype=float)
    arm = np.array([(~hard) & (rng.random(n_images) > 0.005) for _ in range(5)], dtype=float)
    boot = bootstrap_difference(arm, base, n_boot=500)
    assert boot.difference == pytest.approx(arm.mean() - base.mean())
    assert boot.ci_low < boot.difference < boot.ci_high
    assert boot.ci_low > 0 and boot.p_value < 0.05  # 0.5 points on 2,000 images and 5 seeds is clear
    same = bootstrap_difference(base, base, n_boot=200, paired_seeds=True)  # every replicate differs by exactly 0
    assert (same.difference, same.ci_low, same.ci_high, same.p_value) == (0, 0, 0, 1.0)
    assert bootstrap_difference(base, base, n_boot=200).p_value > 0.5  # seeds drawn apart: noise, no effect
    with pytest.raises(ValueError, match="same images"):
        bootstrap_difference(arm, base[:, :10])


def test_compare_arms_adds_bootstrap_with_its_own_adjusted_verdict() -> None:
    rng = np.random.default_rng(2)
    correct = {name: (rng.random((5, 1000)) < acc).astype(float)
               for name, acc in (("plain", 0.98), ("dropout", 0.985), ("noise", 0.98))}
    rows = compare_arms(RESULTS, "plain", correct=correct, n_boot=300)
    for row in rows[1:]:
        assert row["boot_diff_ci_low"] <= row["boot_diff_ci_high"]
        assert row["boot_p_adjusted"] >= row["boot_p"]
        assert row["boot_verdict"] in ("helps", "hurts", "no effect detected")
