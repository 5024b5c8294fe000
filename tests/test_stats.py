"""Known-answer tests for mnistlib.stats: textbook values, hand formulae and scipy as references."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from mnistlib.stats import (
    BASELINE,
    HELPS,
    HELPS_THIS_TEST_SET,
    HURTS,
    HURTS_THIS_TEST_SET,
    NO_DIFFERENCE,
    VAR_FLOOR,
    Summary,
    adjust_family,
    best_by_validation,
    compare,
    crossed_difference,
    detectable_effect,
    format_pct,
    holm_adjust,
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


# ---------------------------------------------------------------- per-seed accuracies used below

RESULTS = {
    "dropout": [0.9841, 0.9852, 0.9838, 0.9846, 0.9850],
    "plain": [0.9801, 0.9812, 0.9795, 0.9808, 0.9803],
    "noise": [0.9799, 0.9815, 0.9790, 0.9811, 0.9806],
}

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


# ---------------------------------------------------------------- crossed analysis: seeds x test images

# (sigma_seed, sigma_image, sigma_residual) of D[s, i] = mu + a_s + b_i + e_si
REGIMES = {"residual-dominated": (0.001, 0.01, 1.0), "balanced": (0.01, 0.1, 0.3), "seed-dominated": (0.03, 0.05, 0.2)}


@pytest.mark.parametrize("regime", REGIMES)
def test_crossed_variance_is_unbiased_and_covers(regime: str) -> None:
    sd_seed, sd_image, sd_res = REGIMES[regime]
    s, n, reps, mu = 10, 2000, 1000, 0.003
    truth = sd_seed**2 / s + sd_image**2 / n + sd_res**2 / (s * n)
    rng = np.random.default_rng(11)
    diffs, variances, naive, covered = [], [], [], 0
    for _ in range(reps):
        d = mu + rng.normal(0, sd_seed, (s, 1)) + rng.normal(0, sd_image, n) + rng.normal(0, sd_res, (s, n))
        diff, var, df = crossed_difference(d, np.zeros_like(d), paired=True)
        diffs.append(diff)
        variances.append(var)
        covered += abs(diff - mu) <= stats.t.ppf(0.975, df) * math.sqrt(var)
        # the naive estimate: ideal (infinite) bootstraps of seeds alone and of images alone, variances summed
        naive.append(np.var(d.mean(1)) / s + np.var(d.mean(0)) / n)
    empirical = np.var(diffs, ddof=1)
    assert empirical == pytest.approx(truth, rel=0.15)  # the simulation itself is right
    assert np.mean(variances) == pytest.approx(empirical, rel=0.15)
    assert np.mean(variances) == pytest.approx(truth, rel=0.15)
    assert 0.93 <= covered / reps <= 0.97
    if regime == "residual-dominated":  # the naive sum counts the residual twice: it fails the 15% check above
        assert np.mean(naive) >= 1.5 * truth


@pytest.mark.parametrize("regime", REGIMES)
def test_crossed_unpaired_variance_is_unbiased_and_covers(regime: str) -> None:
    # Disjoint seeds (8 vs 5), the same images: a shared image effect plus an arm-specific one (sd 0.05).
    sd_seed, sd_image, sd_res = REGIMES[regime]
    sa, sb, n, reps, sd_own = 8, 5, 2000, 1000, 0.05
    truth = sd_seed**2 * (1 / sa + 1 / sb) + sd_own**2 / n + sd_res**2 * (1 / sa + 1 / sb) / n
    rng = np.random.default_rng(12)
    diffs, variances, covered = [], [], 0
    for _ in range(reps):
        image = rng.normal(0, sd_image, n)  # cancels in the difference: it must not inflate the variance
        a = 0.6 + rng.normal(0, sd_seed, (sa, 1)) + image + rng.normal(0, sd_own, n) + rng.normal(0, sd_res, (sa, n))
        b = 0.5 + rng.normal(0, sd_seed, (sb, 1)) + image + rng.normal(0, sd_res, (sb, n))
        diff, var, df = crossed_difference(a, b, paired=False)
        diffs.append(diff)
        variances.append(var)
        covered += abs(diff - 0.1) <= stats.t.ppf(0.975, df) * math.sqrt(var)
    assert np.var(diffs, ddof=1) == pytest.approx(truth, rel=0.15)
    assert np.mean(variances) == pytest.approx(np.var(diffs, ddof=1), rel=0.15)
    assert np.mean(variances) == pytest.approx(truth, rel=0.15)
    assert 0.93 <= covered / reps <= 0.97


def _hand_mean_squares(x: list[list[float]]) -> tuple[list[float], float, float, float]:
    """Image means and MS_seed, MS_image, MS_res of a table by explicit sums, as a textbook would."""
    s, n = len(x), len(x[0])
    grand = sum(map(sum, x)) / (s * n)
    rows = [sum(r) / n for r in x]
    cols = [sum(x[k][i] for k in range(s)) / s for i in range(n)]
    ms_seed = n * sum((r - grand) ** 2 for r in rows) / (s - 1)
    ms_image = s * sum((c - grand) ** 2 for c in cols) / (n - 1)
    res = sum((x[k][i] - rows[k] - cols[i] + grand) ** 2 for k in range(s) for i in range(n))
    return cols, ms_seed, ms_image, res / ((s - 1) * (n - 1))


def test_crossed_matches_the_hand_formulae() -> None:
    rng = np.random.default_rng(5)
    arm, base = (rng.random((4, 7)) < 0.7).astype(float), (rng.random((4, 7)) < 0.5).astype(float)
    _, ms_s, ms_i, ms_r = _hand_mean_squares((arm - base).tolist())
    var = (ms_s + ms_i - ms_r) / 28
    df = var**2 / (((ms_s / 28) ** 2 / 3) + (ms_i / 28) ** 2 / 6 + (ms_r / 28) ** 2 / 18)
    assert crossed_difference(arm, base, paired=True) == pytest.approx((arm.mean() - base.mean(), var, df))
    # unpaired: 4 arm seeds vs the first 3 baseline seeds taken as disjoint
    other = base[:3]
    cols_a, ms_sa, _, ms_ra = _hand_mean_squares(arm.tolist())
    cols_b, ms_sb, _, ms_rb = _hand_mean_squares(other.tolist())
    d = [x - y for x, y in zip(cols_a, cols_b, strict=True)]
    ms_d = _hand_var(d)
    var = (ms_sa - ms_ra) / 28 + (ms_sb - ms_rb) / 21 + ms_d / 7
    terms = [(ms_sa / 28, 3), (ms_ra / 28, 18), (ms_sb / 21, 2), (ms_rb / 21, 12), (ms_d / 7, 6)]
    df = var**2 / sum(t**2 / k for t, k in terms)
    assert crossed_difference(arm, other, paired=False) == pytest.approx((arm.mean() - other.mean(), var, df))


def test_crossed_identical_arms_floor_the_variance() -> None:
    x = (np.random.default_rng(0).random((3, 50)) < 0.9).astype(float)
    assert crossed_difference(x, x, paired=True) == (0.0, VAR_FLOOR, math.inf)
    row = compare(dict(enumerate(x)), dict(enumerate(x)))
    assert (row["difference"], row["p_value"], row["seed_p_value"]) == (0.0, 1.0, 1.0)


# ---------------------------------------------------------------- compare: the design follows the seeds


def _runs(rng: np.random.Generator, seeds: range, acc: float, n: int = 2000) -> dict[int, np.ndarray]:
    return {s: rng.random(n) < acc for s in seeds}


def test_compare_pairs_on_the_shared_seeds_only() -> None:
    rng = np.random.default_rng(1)
    arm, base = _runs(rng, range(10), 0.99), _runs(rng, range(5), 0.98)
    row = compare(arm, base)
    assert row["design"] == "paired" and row["seeds"] == [0, 1, 2, 3, 4] and row["n"] == 5
    a, b = np.array([arm[s] for s in range(5)], float), np.array([base[s] for s in range(5)], float)
    assert row["mean"] == pytest.approx(a.mean()) and row["baseline_mean"] == pytest.approx(b.mean())
    assert row["mean"] != pytest.approx(np.mean([arm[s] for s in range(10)]))  # seeds 5-9 are not used
    diff, var, df = crossed_difference(a, b, paired=True)
    assert (row["difference"], row["df"]) == pytest.approx((diff, df))
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(diff) / math.sqrt(var), df))
    half = stats.t.ppf(0.975, df) * math.sqrt(var)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((diff - half, diff + half))
    seed = paired_test(a.mean(1), b.mean(1))
    assert (row["seed_ci_low"], row["seed_ci_high"], row["seed_p_value"]) == (seed.ci_low, seed.ci_high, seed.p_value)


def test_compare_uses_welch_for_disjoint_seeds() -> None:
    rng = np.random.default_rng(2)
    arm, base = _runs(rng, range(10, 16), 0.99), _runs(rng, range(4), 0.98)
    row = compare(arm, base, confidence=0.9)
    assert row["design"] == "welch" and (row["n_arm"], row["n_base"]) == (6, 4)
    assert row["seeds"] == [0, 1, 2, 3, 10, 11, 12, 13, 14, 15]
    a, b = np.array(list(arm.values()), float), np.array(list(base.values()), float)
    assert row["difference"] == pytest.approx(crossed_difference(a, b, paired=False)[0])
    seed = welch_test(a.mean(1), b.mean(1), confidence=0.9)
    assert (row["seed_ci_low"], row["seed_ci_high"], row["seed_p_value"]) == (seed.ci_low, seed.ci_high, seed.p_value)


def test_the_design_never_depends_on_the_values() -> None:
    rng = np.random.default_rng(3)
    base = _runs(rng, range(5), 0.98)
    correlated = {s: v ^ (rng.random(v.size) < 0.002) for s, v in base.items()}  # nearly the same runs
    unrelated = _runs(rng, range(5), 0.98)
    rows = [compare(correlated, base), compare(unrelated, base)]
    assert [r["design"] for r in rows] == ["paired", "paired"]
    assert rows[0]["seeds"] == rows[1]["seeds"] == [0, 1, 2, 3, 4]


def test_compare_refuses_designs_it_cannot_test() -> None:
    rng = np.random.default_rng(4)
    base = _runs(rng, range(5), 0.98)
    with pytest.raises(ValueError, match="share only seed 4"):
        compare(_runs(rng, range(4, 9), 0.98), base)
    with pytest.raises(ValueError, match="at least 2|>= 2 seeds"):
        compare(_runs(rng, range(10, 11), 0.98), base)  # disjoint, one seed: no Welch's test
    with pytest.raises(ValueError, match="same test images"):
        compare(_runs(rng, range(5), 0.98, n=1999), base)
    with pytest.raises(ValueError, match="0/1"):
        compare({s: v * 0.5 for s, v in base.items()}, base)


def test_crossed_interval_counts_the_test_set() -> None:
    # Per seed the arm gains the same +10 images net (30 fixed, 20 broken, in every seed) plus small seed noise:
    # certain for this test set (seed-level), not for new digits (50 images decide it).
    rng = np.random.default_rng(6)
    n = 10_000
    base = _runs(rng, range(5), 0.98, n)
    arm = {}
    for s, v in base.items():
        a = v.copy()
        noisy = rng.choice(np.arange(50, n), 50, replace=False)
        a[noisy] = rng.random(50) < 0.98
        a[:30], a[30:50], base[s][:30], base[s][30:50] = True, False, False, True
        arm[s] = a
    row = compare(arm, base)
    assert row["seed_p_value"] < 0.001 and row["p_value"] > 0.05
    assert row["ci_high"] - row["ci_low"] > 2 * (row["seed_ci_high"] - row["seed_ci_low"])
    assert adjust_family([row])[0]["verdict"] == HELPS_THIS_TEST_SET
    assert adjust_family([compare(base, arm)])[0]["verdict"] == HURTS_THIS_TEST_SET


# ---------------------------------------------------------------- verdicts: Holm over a family


def _row(p: float, seed_p: float, difference: float) -> dict:
    return {"p_value": p, "seed_p_value": seed_p, "difference": difference}


def test_verdict_words_come_from_the_adjusted_crossed_p_first() -> None:
    rows = adjust_family([{"p_value": math.nan, "difference": 0.0}, _row(0.001, 0.0001, 0.002),
                          _row(0.004, 0.0001, -0.002), _row(0.3, 0.001, 0.001), _row(0.3, 0.001, -0.001),
                          _row(0.3, 0.2, 0.001)])
    assert [r["verdict"] for r in rows] == [BASELINE, HELPS, HURTS, HELPS_THIS_TEST_SET, HURTS_THIS_TEST_SET,
                                            NO_DIFFERENCE]
    assert all(r["family"] == 5 for r in rows)
    assert [r["p_adjusted"] for r in rows[1:]] == pytest.approx(holm_adjust([0.001, 0.004, 0.3, 0.3, 0.3]))
    assert [r["seed_p_adjusted"] for r in rows[1:]] == pytest.approx([0.0005, 0.0005, 0.003, 0.003, 0.2])
    assert HELPS == "helps" and HURTS == "hurts" and "this test set" in HELPS_THIS_TEST_SET


def test_holm_over_the_family_removes_verdicts_a_single_test_would_give() -> None:
    alone = adjust_family([_row(0.02, 0.01, 0.001)])
    assert alone[0]["verdict"] == HELPS and alone[0]["family"] == 1 and alone[0]["p_adjusted"] == 0.02
    family = adjust_family([_row(0.02, 0.01, 0.001), _row(0.03, 0.015, 0.001), _row(0.04, 0.02, 0.001)])
    assert [r["p_adjusted"] for r in family] == pytest.approx([0.06, 0.06, 0.06])
    assert [r["seed_p_adjusted"] for r in family] == pytest.approx([0.03, 0.03, 0.03])
    assert [r["verdict"] for r in family] == [HELPS_THIS_TEST_SET] * 3 and family[0]["family"] == 3
    assert adjust_family([_row(0.02, 0.01, 0.0)])[0]["verdict"] == NO_DIFFERENCE  # no direction, no verdict


# ---------------------------------------------------------------- detectable_effect: planned power


def test_detectable_effect_hand_values() -> None:
    # Normal limit by hand: (z_0.975 + z_0.8) sd / sqrt(n) = (1.959964 + 0.841621) / sqrt(n).
    assert detectable_effect(1.0, 100_000, 0.05) * math.sqrt(100_000) == pytest.approx(2.801585, rel=1e-4)
    # 10 pairs, by hand from t tables: (t_{0.975,9} + t_{0.8,9}) / sqrt(10) = (2.262157 + 0.883404) / 3.162278
    # = 0.994714; the exact noncentral-t answer is a little larger (the approximation ignores the t's skew).
    exact = detectable_effect(0.002, 10, 0.05) / 0.002
    assert 0.994714 < exact < 0.994714 * 1.005
    # unpaired, 5 seeds per arm (df 8): (2.306004 + 0.888890) * sqrt(2 / 5) = 2.020628
    assert 2.020628 < detectable_effect(1.0, 5, 0.05, paired=False) < 2.020628 * 1.005
    assert detectable_effect(1.0, 5, 0.05 / 7) > detectable_effect(1.0, 5, 0.05) > detectable_effect(1.0, 20, 0.05)
    with pytest.raises(ValueError):
        detectable_effect(1.0, 1, 0.05)


@pytest.mark.parametrize("paired", [True, False])
def test_detectable_effect_has_the_stated_power(paired: bool) -> None:
    n, sd, alpha, reps = 5, 0.002, 0.05 / 3, 40_000
    effect = detectable_effect(sd, n, alpha, power=0.8, paired=paired)
    rng = np.random.default_rng(8)
    if paired:
        d = rng.normal(effect, sd, (reps, n))
        t, df = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n)), n - 1
    else:
        a, b = rng.normal(effect, sd, (reps, n)), rng.normal(0.0, sd, (reps, n))
        pooled = (a.var(1, ddof=1) + b.var(1, ddof=1)) / 2
        t, df = (a.mean(1) - b.mean(1)) / np.sqrt(pooled * 2 / n), 2 * n - 2
    assert np.mean(np.abs(t) > stats.t.ppf(1 - alpha / 2, df)) == pytest.approx(0.8, abs=0.01)


# ---------------------------------------------------------------- best_by_validation


def test_best_by_validation_picks_the_highest_mean_first_on_ties() -> None:
    assert best_by_validation({"a": [0.98, 0.99], "b": [0.991, 0.992], "c": [0.97]}) == "b"
    assert best_by_validation({"x": [0.1, 0.2, 0.3], "y": [0.3, 0.2, 0.1]}) == "x"  # same values, other order
    assert best_by_validation({"y": [0.3, 0.2, 0.1], "x": [0.1, 0.2, 0.3]}) == "y"


@pytest.mark.parametrize("bad", [[0.99, math.nan], [None, 0.99], [], [math.inf]])
def test_best_by_validation_refuses_missing_values(bad: list) -> None:
    for order in (("broken", "ok"), ("ok", "broken")):  # wherever the bad candidate stands
        values = {"broken": bad, "ok": [0.98, 0.97]}
        with pytest.raises(ValueError, match="broken"):
            best_by_validation({name: values[name] for name in order})
    with pytest.raises(ValueError, match="no candidates"):
        best_by_validation({})
