"""Seed-level statistics for comparing training arms, so every verdict in a report is computed, never typed.

An arm's data are its final test accuracies (fractions), one per seed; it is compared with a baseline arm by a
two-sided Welch's or paired t-test. The t statistics follow the textbook formulae rather than scipy's `ttest_ind` /
`ttest_rel` (the tests check they agree): MNIST accuracies are multiples of 1/10000, so an arm whose seeds all score
the same is realistic, and numpy then reports a variance of ~1e-32 instead of 0. A constant arm is detected exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

HELPS = "helps"
HURTS = "hurts"
NO_DIFFERENCE = "no effect detected"
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
    verdict: str  # "helps" | "hurts" | "no effect detected"
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


def verdict(p_value: float, difference: float, alpha: float = 0.05) -> str:
    """The one verdict rule: a direction counts only when the (adjusted) p rejects equality at level alpha."""
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


def welch_test(arm: ArrayLike, baseline: ArrayLike, alpha: float = 0.05, confidence: float = 0.95) -> Comparison:
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
    return _t_comparison(a, b, False, alpha, confidence)


def paired_test(arm: ArrayLike, baseline: ArrayLike, alpha: float = 0.05, confidence: float = 0.95) -> Comparison:
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
    return _t_comparison(a, b, True, alpha, confidence)


def _difference(a: np.ndarray, b: np.ndarray, paired: bool) -> tuple[float, float, float]:
    """The difference of means, its squared standard error and its degrees of freedom: of the per-seed differences
    when paired, else Welch–Satterthwaite's (nan when both arms are constant)."""
    if paired:
        diff, var = _mean_var(a - b)
        return diff, var / a.size, float(a.size - 1)
    (mean_a, var_a), (mean_b, var_b) = _mean_var(a), _mean_var(b)
    se2_a, se2_b = var_a / a.size, var_b / b.size
    se2 = se2_a + se2_b
    df = se2**2 / (se2_a**2 / (a.size - 1) + se2_b**2 / (b.size - 1)) if se2 else math.nan
    return mean_a - mean_b, se2, df


def _t_comparison(a: np.ndarray, b: np.ndarray, paired: bool, alpha: float, confidence: float) -> Comparison:
    """t, two-sided p and the CI of the difference; a standard error of 0 collapses the interval
    (p = 1 if the difference is 0, else p = 0, t 0 or ±inf)."""
    diff, se2, df = _difference(a, b, paired)
    if se2 == 0.0:
        t = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
        p, low, high = (1.0 if diff == 0.0 else 0.0), diff, diff
    else:
        se = math.sqrt(se2)
        t = diff / se
        p = float(2.0 * stats.t.sf(abs(t), df))
        half = float(stats.t.ppf((1.0 + confidence) / 2.0, df)) * se
        low, high = diff - half, diff + half
    return Comparison(arm_mean=_mean_var(a)[0], baseline_mean=_mean_var(b)[0], difference=diff, ci_low=low,
                      ci_high=high, t=t, df=df, p_value=p, test="paired" if paired else "welch",
                      verdict=verdict(p, diff, alpha), alpha=alpha, confidence=confidence)


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


def compare_arms(results: dict[str, list[float]], baseline: str, alpha: float = 0.05, test: str = "welch",
                 confidence: float = 0.95, correct: dict[str, np.ndarray] | None = None, n_boot: int = 4000,
                 family: int | None = None) -> list[dict]:
    """One row per arm, baseline first; the verdict of every row is the Holm-adjusted one, computed only here.

    ``ci_low``/``ci_high`` are the interval of the arm's own mean; ``diff_ci_low``/``diff_ci_high`` the interval of
    its difference from the baseline (per comparison); ``p_value`` is the raw p, ``p_adjusted`` Holm's over all
    the arms compared, and ``verdict`` comes from ``p_adjusted`` at ``alpha``. ``mde`` is the smallest difference
    the design detects with 80% power at the strictest Holm level (alpha / number of comparisons).
    With ``correct`` (per arm, a seeds x test-images 0/1 matrix) each row also gets a bootstrap over seeds and
    test images (``boot_*``, see `bootstrap_difference`), Holm-adjusted the same way.
    The baseline row has difference 0, p-values nan and verdict "baseline". ``family`` is the number of
    comparisons the caller will adjust together (`adjust_family`) when it is more than these arms, for ``mde``.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    if baseline not in results:
        raise KeyError(f"baseline arm {baseline!r} not in results (arms: {sorted(results)})")
    run = welch_test if test == "welch" else paired_test
    others = [k for k in results if k != baseline]
    family_alpha = alpha / (family or max(1, len(others)))
    rows = []
    for name in [baseline, *others]:
        s = summarize(results[name], confidence)
        row = {"arm": name, "n": s.n, "mean": s.mean, "std": s.std, "ci_low": s.ci_low, "ci_high": s.ci_high}
        if name == baseline:
            row.update(difference=0.0, diff_ci_low=math.nan, diff_ci_high=math.nan, p_value=math.nan,
                       mde=math.nan, test=test)
        else:
            c = run(results[name], results[baseline], alpha=alpha, confidence=confidence)
            row.update(difference=c.difference, diff_ci_low=c.ci_low, diff_ci_high=c.ci_high, p_value=c.p_value,
                       test=test, mde=min_detectable_effect(results[name], results[baseline], family_alpha,
                                                            paired=test == "paired"))
            if correct is not None:
                boot = bootstrap_difference(correct[name], correct[baseline], n_boot=n_boot,
                                            paired_seeds=test == "paired", confidence=confidence)
                row.update(boot_diff_ci_low=boot.ci_low, boot_diff_ci_high=boot.ci_high, boot_p=boot.p_value)
        rows.append(row)
    return adjust_family(rows, alpha)


def adjust_family(rows: list[dict], alpha: float = 0.05) -> list[dict]:
    """Holm-adjust the rows' p-values as one family (and their bootstrap p-values, where present), and give each row
    the verdict of its adjusted p: the one place a verdict is made. A row without a p (the baseline) is "baseline"."""
    for key, adjusted_key, verdict_key in (("p_value", "p_adjusted", "verdict"),
                                           ("boot_p", "boot_p_adjusted", "boot_verdict")):
        if any(key in row for row in rows):
            adjusted = holm_adjust([row.get(key, math.nan) for row in rows])
            for row, p in zip(rows, adjusted, strict=True):
                row[adjusted_key] = p
                row[verdict_key] = BASELINE if math.isnan(p) else verdict(p, row["difference"], alpha)
    return rows


def min_detectable_effect(arm: ArrayLike, baseline: ArrayLike, alpha: float = 0.05, power: float = 0.8,
                          paired: bool = False) -> float:
    """The smallest true difference this design would detect with `power` at level `alpha` (two-sided t-test).

    (t_{1-alpha/2} + t_{power}) x the standard error of the difference, with the spread measured in the data
    (each arm's variance and Welch's degrees of freedom, as the test uses; the per-seed differences when paired).
    """
    a, b = _as_values(arm, "arm"), _as_values(baseline, "baseline")
    if a.size < 2 or b.size < 2 or paired and a.size != b.size:
        return math.nan
    _, se2, df = _difference(a, b, paired)
    if se2 == 0:
        return 0.0
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * math.sqrt(se2))


def seed_correlation(results: dict[str, list[float]], baseline: str) -> float:
    """Mean Pearson correlation, over arms, between an arm's and the baseline's accuracies seed by seed.

    Pairing by seed only pays when arms share seed-level luck (same split, data order, initial weights): a clearly
    positive correlation. `choose_test` reads this, and only this, to pick the test, before any p-value is seen.
    """
    base = np.asarray(results[baseline], dtype=float)
    rs = []
    for name, values in results.items():
        arm = np.asarray(values, dtype=float)
        if name == baseline or arm.size != base.size or arm.size < 3 or np.ptp(arm) == 0 or np.ptp(base) == 0:
            continue
        rs.append(float(np.corrcoef(arm, base)[0, 1]))
    return float(np.mean(rs)) if rs else math.nan


PAIRING_THRESHOLD = 0.3  # below this, pairing removes too little shared variance to pay for its lost degrees of freedom


def choose_test(results: dict[str, list[float]], baseline: str) -> tuple[str, float]:
    """("paired", r) when seeds correlate across arms (r >= PAIRING_THRESHOLD), else ("welch", r); declared rule."""
    r = seed_correlation(results, baseline)
    return ("paired" if not math.isnan(r) and r >= PAIRING_THRESHOLD else "welch"), r


@dataclass(frozen=True)
class Bootstrap:
    """Difference of mean accuracy with both noise sources: which seeds were run, and which test images were drawn."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_boot: int


def bootstrap_difference(correct_arm: np.ndarray, correct_base: np.ndarray, n_boot: int = 4000,
                         paired_seeds: bool = False, confidence: float = 0.95, seed: int = 0) -> Bootstrap:
    """Two-level bootstrap of mean(arm) - mean(baseline): resample seeds, and test images paired across both arms.

    `correct_*` are seeds x images 0/1 matrices (1 = that run classified that test image right). Each replicate
    draws seeds with replacement (the same seed indices in both arms when `paired_seeds`) and one resample of the
    test images used by both arms, so a replicate asks "another set of seeds, another test set of this size".
    The p-value is the two-sided percentile p: twice the share of replicates on the far side of zero.
    """
    _check_level(confidence)
    a = np.asarray(correct_arm, dtype=np.float64)
    b = np.asarray(correct_base, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need seeds x images matrices over the same images, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    n_images = a.shape[1]
    diffs = np.empty(n_boot)
    for start in range(0, n_boot, 250):  # 250 replicates at a time: one matrix product per arm
        count = min(250, n_boot - start)
        weights = np.stack([np.bincount(rng.integers(0, n_images, n_images), minlength=n_images)
                            for _ in range(count)]).astype(np.float64).T / n_images  # images x replicates
        per_seed_a, per_seed_b = a @ weights, b @ weights  # seeds x replicates: accuracy on each resampled test set
        seeds_a = rng.integers(0, a.shape[0], (count, a.shape[0]))
        same = paired_seeds and a.shape[0] == b.shape[0]
        seeds_b = seeds_a if same else rng.integers(0, b.shape[0], (count, b.shape[0]))
        columns = np.arange(count)[:, None]
        diffs[start:start + count] = (per_seed_a[seeds_a, columns].mean(1) - per_seed_b[seeds_b, columns].mean(1))
    observed = float(a.mean() - b.mean())
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    p = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return Bootstrap(observed, float(low), float(high), float(p), n_boot)


def format_pct(x: float, digits: int = 2) -> str:
    """Accuracy fraction as a percentage: 0.99123 -> "99.12%"."""
    return f"{x * 100:.{digits}f}%"


def format_mean_std(values: ArrayLike, digits: int = 2) -> str:
    """Accuracies as "99.10% ± 0.14" (points; the spread is left out for a single value)."""
    s = summarize(values)
    spread = f" ± {100 * s.std:.{digits}f}" if s.n > 1 else ""
    return f"{format_pct(s.mean, digits)}{spread}"
