"""Seed-level statistics for comparing training arms, so every verdict in a report is computed, never typed.

Each arm is a training configuration run with several seeds; its data are the final test accuracies
(fractions in 0..1), one per seed.  An arm is compared against a baseline arm with a two-sided t-test
(Welch's by default, paired when both arms used the same seeds).

The t statistics are computed here from their textbook formulae rather than taken from
``scipy.stats.ttest_ind`` / ``ttest_rel`` (the tests check they agree), for one reason: MNIST accuracies
are multiples of 1/10000, so an arm whose seeds all score the same is realistic, and floating-point
summation makes numpy report a variance of ~1e-32 instead of 0 for it.  A constant arm is therefore
detected exactly (all values equal) and given variance 0 and its common value as mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "Comparison",
    "Summary",
    "compare_arms",
    "holm_adjust",
    "format_mean_std",
    "format_p",
    "format_pct",
    "paired_test",
    "summarize",
    "verdict_sentence",
    "welch_test",
]

HELPS = "helps"
HURTS = "hurts"
NO_DIFFERENCE = "no significant difference"
BASELINE = "baseline"
TESTS = ("welch", "paired")


@dataclass(frozen=True)
class Summary:
    """Mean of one arm's per-seed values with a t-distribution confidence interval."""

    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); 0.0 when n == 1
    ci_low: float  # nan when n == 1: one seed says nothing about spread
    ci_high: float
    confidence: float


@dataclass(frozen=True)
class Comparison:
    """Result of testing an arm against the baseline; ``difference`` is arm minus baseline."""

    arm_mean: float
    baseline_mean: float
    difference: float
    ci_low: float  # confidence interval of the difference (Welch's or paired, matching ``test``)
    ci_high: float
    t: float
    df: float
    p_value: float
    test: str  # "welch" or "paired"
    verdict: str  # "helps" | "hurts" | "no significant difference"
    alpha: float
    confidence: float = 0.95


def _as_values(values: ArrayLike, name: str = "values") -> np.ndarray:
    """Validate per-seed results: 1-D, finite (a NaN accuracy means a broken run, not a data point)."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: need at least one value")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values: {arr.tolist()}")
    return arr


def _check_level(confidence: float, alpha: float | None = None) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if alpha is not None and not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _mean_var(arr: np.ndarray) -> tuple[float, float]:
    """Mean and sample variance, exact (value, 0.0) for a constant array; see the module docstring."""
    if np.all(arr == arr[0]):
        return float(arr[0]), 0.0
    return float(np.mean(arr)), float(np.var(arr, ddof=1))


def _verdict(p_value: float, difference: float, alpha: float) -> str:
    """Direction only counts when the test rejects equality at level alpha."""
    if p_value < alpha and difference > 0:
        return HELPS
    if p_value < alpha and difference < 0:
        return HURTS
    return NO_DIFFERENCE


def summarize(values: ArrayLike, confidence: float = 0.95) -> Summary:
    """Mean ± t_{(1+c)/2, n-1} · s/√n: small seed counts need the t quantile, not the normal one."""
    _check_level(confidence)
    arr = _as_values(values)
    n = int(arr.size)
    mean, var = _mean_var(arr)
    if n == 1:
        return Summary(n=1, mean=mean, std=0.0, ci_low=math.nan, ci_high=math.nan, confidence=confidence)
    std = math.sqrt(var)
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * std / math.sqrt(n)
    return Summary(n=n, mean=mean, std=std, ci_low=mean - half, ci_high=mean + half, confidence=confidence)


def welch_test(
    arm: ArrayLike,
    baseline: ArrayLike,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> Comparison:
    """Two-sided Welch's t-test (as ``scipy.stats.ttest_ind(equal_var=False)``): arms may differ in spread.

    df is Welch–Satterthwaite.  Both arms need at least 2 values (a variance is needed from each).
    Degenerate case, both arms constant: the difference is known exactly, so p = 1 if the means are
    equal and p = 0 otherwise; t is 0 or ±inf, df is nan (0/0) and the interval collapses to the
    difference.  If only one arm is constant the ordinary formulae apply with its variance 0.
    """
    _check_level(confidence, alpha)
    a = _as_values(arm, "arm")
    b = _as_values(baseline, "baseline")
    if a.size < 2 or b.size < 2:
        sizes = f"arm has {a.size}, baseline {b.size}"
        raise ValueError(f"Welch's t-test needs at least 2 values per arm: {sizes}")
    mean_a, var_a = _mean_var(a)
    mean_b, var_b = _mean_var(b)
    diff = mean_a - mean_b
    se2_a, se2_b = var_a / a.size, var_b / b.size
    se2 = se2_a + se2_b
    if se2 == 0.0:
        t = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
        df, p, low, high = math.nan, (1.0 if diff == 0.0 else 0.0), diff, diff
    else:
        se = math.sqrt(se2)
        t = diff / se
        df = se2**2 / (se2_a**2 / (a.size - 1) + se2_b**2 / (b.size - 1))
        p = float(2.0 * stats.t.sf(abs(t), df))
        half = float(stats.t.ppf((1.0 + confidence) / 2.0, df)) * se
        low, high = diff - half, diff + half
    return Comparison(
        arm_mean=mean_a,
        baseline_mean=mean_b,
        difference=diff,
        ci_low=low,
        ci_high=high,
        t=t,
        df=df,
        p_value=p,
        test="welch",
        verdict=_verdict(p, diff, alpha),
        alpha=alpha,
        confidence=confidence,
    )


def paired_test(
    arm: ArrayLike,
    baseline: ArrayLike,
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> Comparison:
    """Paired t-test over seeds (a one-sample t-test of arm[i] - baseline[i]): seed i must match in both.

    Pairing removes seed-to-seed variation shared by both arms (same init, same data order), so it is
    more sensitive than Welch's when the seeds really are shared.  Degenerate case, all differences
    equal: p = 1 if they are 0, else p = 0, with t 0 or ±inf and the interval collapsed to the difference.
    """
    _check_level(confidence, alpha)
    a = _as_values(arm, "arm")
    b = _as_values(baseline, "baseline")
    if a.size != b.size:
        raise ValueError(f"paired test needs the same seeds in each arm: arm has {a.size}, baseline {b.size}")
    if a.size < 2:
        raise ValueError(f"paired test needs at least 2 seeds, got {a.size}")
    n = a.size
    diff, var_d = _mean_var(a - b)
    df = float(n - 1)
    if var_d == 0.0:
        t = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
        p, low, high = (1.0 if diff == 0.0 else 0.0), diff, diff
    else:
        se = math.sqrt(var_d / n)
        t = diff / se
        p = float(2.0 * stats.t.sf(abs(t), df))
        half = float(stats.t.ppf((1.0 + confidence) / 2.0, df)) * se
        low, high = diff - half, diff + half
    mean_a, _ = _mean_var(a)
    mean_b, _ = _mean_var(b)
    return Comparison(
        arm_mean=mean_a,
        baseline_mean=mean_b,
        difference=diff,
        ci_low=low,
        ci_high=high,
        t=t,
        df=df,
        p_value=p,
        test="paired",
        verdict=_verdict(p, diff, alpha),
        alpha=alpha,
        confidence=confidence,
    )


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: p-values that keep the chance of any false "helps" among all arms at alpha.

    Testing seven arms against one baseline at 0.05 each gives roughly a 30% chance of at least one spurious
    verdict; the adjusted values answer "which verdicts survive if we account for that". Order is kept; nan stays.
    """
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    m = len(indexed)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def compare_arms(
    results: dict[str, list[float]],
    baseline: str,
    alpha: float = 0.05,
    test: str = "welch",
    confidence: float = 0.95,
) -> list[dict]:
    """One row per arm, baseline first, ready for ``pandas.DataFrame(rows)``.

    ``ci_low``/``ci_high`` are the interval of the arm's own mean; ``diff_ci_low``/``diff_ci_high`` are the
    interval of its difference from the baseline.  The baseline row has difference 0, p_value nan and
    verdict "baseline".
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    if baseline not in results:
        raise KeyError(f"baseline arm {baseline!r} not in results (arms: {sorted(results)})")
    run = welch_test if test == "welch" else paired_test
    rows = []
    for name in [baseline] + [k for k in results if k != baseline]:
        s = summarize(results[name], confidence)
        row = {
            "arm": name,
            "n": s.n,
            "mean": s.mean,
            "std": s.std,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
        }
        if name == baseline:
            row.update(
                difference=0.0,
                diff_ci_low=math.nan,
                diff_ci_high=math.nan,
                p_value=math.nan,
                verdict=BASELINE,
            )
        else:
            c = run(results[name], results[baseline], alpha=alpha, confidence=confidence)
            row.update(
                difference=c.difference,
                diff_ci_low=c.ci_low,
                diff_ci_high=c.ci_high,
                p_value=c.p_value,
                verdict=c.verdict,
                comparison=c,
            )
        rows.append(row)
    for row, adjusted in zip(rows, holm_adjust([row["p_value"] for row in rows]), strict=True):
        row["p_holm"] = adjusted
        if row["arm"] != baseline:
            row["verdict_holm"] = _verdict(adjusted, row["difference"], alpha)
    return rows


def format_pct(x: float, digits: int = 2) -> str:
    """Accuracy fraction as a percentage: 0.99123 -> "99.12%"."""
    return f"{x * 100:.{digits}f}%"


def format_mean_std(values: ArrayLike, digits: int = 2) -> str:
    """Accuracies as "99.10% ± 0.14" (points; the spread is left out for a single value)."""
    s = summarize(values)
    spread = f" ± {100 * s.std:.{digits}f}" if s.n > 1 else ""
    return f"{format_pct(s.mean, digits)}{spread}"


def format_p(p: float) -> str:
    """p-value the way papers print it: three decimals, floored at "p < 0.001"."""
    if math.isnan(p):
        return "p = nan"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}"


def _points(x: float) -> str:
    """Signed percentage points from a fraction; never "-0.00"."""
    s = f"{x * 100:+.2f}"
    return "+0.00" if s == "-0.00" else s


def verdict_sentence(arm: str, cmp: Comparison) -> str:
    """One sentence for a report, every number taken from ``cmp`` (accuracies are fractions 0..1).

    e.g. "Batch norm helps: +0.21 points (95% CI +0.12 to +0.30), Welch's t-test p = 0.002."
    """
    test_name = "Welch's t-test" if cmp.test == "welch" else "paired t-test"
    level = f"{cmp.confidence * 100:g}%"
    evidence = (
        f"{_points(cmp.difference)} points ({level} CI {_points(cmp.ci_low)} to {_points(cmp.ci_high)}), "
        f"{test_name} {format_p(cmp.p_value)}."
    )
    if cmp.verdict in (HELPS, HURTS):
        return f"{arm} {cmp.verdict}: {evidence}"
    return f"{arm}: {cmp.verdict}, {evidence}"
