"""Statistics for comparing training arms, so every verdict in a report is computed, never typed.

`compare` tests an arm against a baseline from which test images each seed got right: for new seeds and new test
images (crossed random effects), and for this test set alone (a paired or Welch t-test on per-seed accuracies).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

HELPS, HURTS, NO_DIFFERENCE, BASELINE = "helps", "hurts", "no effect detected", "baseline"
HELPS_THIS_TEST_SET = "helps on this test set (not shown for new digits)"
HURTS_THIS_TEST_SET = "hurts on this test set (not shown for new digits)"
VAR_FLOOR = 1e-12  # smallest variance of a difference: an SE of 1e-6, a hundredth of one image in 10,000


@dataclass(frozen=True)
class Summary:
    """Mean of one arm's per-seed values with a t confidence interval (nan for one seed: it says nothing of spread)."""

    n: int
    mean: float
    std: float  # ddof=1; 0.0 when n == 1
    ci_low: float
    ci_high: float
    confidence: float


@dataclass(frozen=True)
class Comparison:
    """Result of testing an arm against the baseline; ``difference`` is arm minus baseline."""

    arm_mean: float
    baseline_mean: float
    difference: float
    ci_low: float  # of the difference, by ``test``
    ci_high: float
    t: float
    df: float
    p_value: float
    test: str  # "welch" or "paired"
    verdict: str  # "helps" | "hurts" | "no effect detected"
    alpha: float
    confidence: float = 0.95


def _as_values(values: ArrayLike, name: str = "values") -> np.ndarray:
    """Per-seed results, validated: 1-D, finite (a NaN accuracy means a broken run, not a data point)."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty one-dimensional sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values: {arr.tolist()}")
    return arr


def _check_level(confidence: float, alpha: float | None = None) -> None:
    for name, level in (("confidence", confidence), ("alpha", alpha)):
        if level is not None and not 0.0 < level < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {level}")


def _mean_var(arr: np.ndarray) -> tuple[float, float]:
    """Mean and sample variance, exactly (value, 0.0) for a constant array."""
    if np.all(arr == arr[0]):
        return float(arr[0]), 0.0
    return float(np.mean(arr)), float(np.var(arr, ddof=1))


def verdict(p_value: float, difference: float, alpha: float = 0.05) -> str:
    """The one verdict rule: a direction counts only when the (adjusted) p rejects equality at level alpha."""
    if not p_value < alpha:
        return NO_DIFFERENCE
    return HELPS if difference > 0 else HURTS if difference < 0 else NO_DIFFERENCE


def summarize(values: ArrayLike, confidence: float = 0.95) -> Summary:
    """Mean ± t_{(1+c)/2, n-1} · s/√n: small seed counts need the t quantile, not the normal one."""
    _check_level(confidence)
    arr = _as_values(values)
    n, (mean, var) = int(arr.size), _mean_var(arr)
    std = math.sqrt(var)  # 0.0 for one value
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * std / math.sqrt(n) if n > 1 else math.nan
    return Summary(n=n, mean=mean, std=std, ci_low=mean - half, ci_high=mean + half, confidence=confidence)


def welch_test(arm: ArrayLike, baseline: ArrayLike, alpha: float = 0.05, confidence: float = 0.95) -> Comparison:
    """Two-sided Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``): arms may differ in spread."""
    return _t_comparison(arm, baseline, False, alpha, confidence)


def paired_test(arm: ArrayLike, baseline: ArrayLike, alpha: float = 0.05, confidence: float = 0.95) -> Comparison:
    """Paired t-test of arm[i] - baseline[i]: removes the variation both arms share through seed i."""
    return _t_comparison(arm, baseline, True, alpha, confidence)


def _t_comparison(arm: ArrayLike, baseline: ArrayLike, paired: bool, alpha: float, confidence: float) -> Comparison:
    """Welch's or the paired test; all seeds scoring the same is exact: p 1 or 0, t 0 or ±inf, the CI collapsed."""
    _check_level(confidence, alpha)
    a, b = _as_values(arm, "arm"), _as_values(baseline, "baseline")
    if paired and a.size != b.size:
        raise ValueError(f"paired test needs the same seeds in each arm: arm has {a.size}, baseline {b.size}")
    if a.size < 2 or b.size < 2:
        raise ValueError(f"paired test needs at least 2 seeds, got {a.size}" if paired else
                         f"Welch's t-test needs at least 2 values per arm: arm has {a.size}, baseline {b.size}")
    (mean_a, var_a), (mean_b, var_b) = _mean_var(a), _mean_var(b)
    if paired:  # a one-sample test of the per-seed differences
        diff, var = _mean_var(a - b)
        se2, df = var / a.size, float(a.size - 1)
    else:  # Welch-Satterthwaite df; nan when both arms are constant
        diff, se2_a, se2_b = mean_a - mean_b, var_a / a.size, var_b / b.size
        se2 = se2_a + se2_b
        df = se2**2 / (se2_a**2 / (a.size - 1) + se2_b**2 / (b.size - 1)) if se2 else math.nan
    t, p, low, high = _t_interval(diff, se2, df, confidence)
    return Comparison(arm_mean=mean_a, baseline_mean=mean_b, difference=diff, ci_low=low, ci_high=high, t=t, df=df,
                      p_value=p, test="paired" if paired else "welch", verdict=verdict(p, diff, alpha), alpha=alpha,
                      confidence=confidence)


def _t_interval(diff: float, se2: float, df: float, confidence: float) -> tuple[float, float, float, float]:
    """t, two-sided p and the confidence interval of `diff`, its squared standard error `se2`; exact when se2 is 0."""
    if se2 == 0.0:
        return (0.0, 1.0, diff, diff) if diff == 0.0 else (math.copysign(math.inf, diff), 0.0, diff, diff)
    se = math.sqrt(se2)
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, df)) * se
    return diff / se, float(2.0 * stats.t.sf(abs(diff / se), df)), diff - half, diff + half


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the chance of any false "helps" among all arms stays alpha; order kept, nan kept."""
    ordered = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted, running = [math.nan] * len(p_values), 0.0
    for rank, (p, i) in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p))
        adjusted[i] = running
    return adjusted


def _two_way(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Per-image means, and the seed and residual mean squares of a seeds x images table (two-way ANOVA)."""
    s, n = x.shape
    seed_means, image_means, grand = x.mean(1), x.mean(0), x.mean()
    ms_seed = n * float(np.sum((seed_means - grand) ** 2)) / (s - 1)
    ms_res = float(np.sum((x - seed_means[:, None] - image_means + grand) ** 2)) / ((s - 1) * (n - 1))
    return image_means, ms_seed, ms_res


def crossed_difference(arm: np.ndarray, baseline: np.ndarray, paired: bool) -> tuple[float, float, float]:
    """mean(arm) - mean(baseline), its variance for new seeds and a new test set of this size, and Satterthwaite's df.

    Crossed random effects (seed, image, residual) by ANOVA mean squares, not a bootstrap (Owen 2007). Paired:
    Var = (MS_seed + MS_image - MS_res) / (S N) of arm - baseline. Unpaired, the shared image effect cancels:
    Var = var_i(d_i) / N + sum over arms of (MS_seed - MS_res) / (S_arm N), d_i the difference of image means."""
    (sa, n), sb = arm.shape, baseline.shape[0]
    if paired:
        image_means, ms_seed, ms_res = _two_way(arm - baseline)
        terms = [(1 / (sa * n), ms_seed, sa - 1), (1 / (sa * n), sa * float(np.var(image_means, ddof=1)), n - 1),
                 (-1 / (sa * n), ms_res, (sa - 1) * (n - 1))]
    else:
        (means_a, seed_a, res_a), (means_b, seed_b, res_b) = _two_way(arm), _two_way(baseline)
        terms = [(1 / (sa * n), seed_a, sa - 1), (-1 / (sa * n), res_a, (sa - 1) * (n - 1)),
                 (1 / (sb * n), seed_b, sb - 1), (-1 / (sb * n), res_b, (sb - 1) * (n - 1)),
                 (1 / n, float(np.var(means_a - means_b, ddof=1)), n - 1)]
    var = max(VAR_FLOOR, sum(c * ms for c, ms, _ in terms))
    spread = sum((c * ms) ** 2 / df for c, ms, df in terms)
    df = var**2 / spread if spread > 0 else math.inf
    return float(arm.mean() - baseline.mean()), var, df


def _correctness(runs: Mapping[int, np.ndarray], seeds: Sequence[int], name: str) -> np.ndarray:
    """The seeds x images 0/1 table of one arm, validated."""
    table = np.stack([np.asarray(runs[s], dtype=np.float64) for s in seeds])
    if table.ndim != 2 or table.shape[1] < 2 or not np.isin(table, (0.0, 1.0)).all():
        raise ValueError(f"{name}: need per seed a 0/1 vector over the same >= 2 test images, got {table.shape}")
    return table


def compare(arm: Mapping[int, np.ndarray], baseline: Mapping[int, np.ndarray], confidence: float = 0.95) -> dict:
    """An arm against the baseline, each seed -> per-test-image correctness: paired on the seeds both share (>= 2),
    Welch's when none. ``p_value``/``ci_*``: `crossed_difference`; ``seed_*``: the t-test on per-seed accuracies."""
    _check_level(confidence)
    shared = sorted(set(arm) & set(baseline))
    if len(shared) == 1:
        raise ValueError(f"arm and baseline share only seed {shared[0]}: pair on 2 or more seeds, or on none")
    paired = bool(shared)
    arm_seeds, base_seeds = (shared, shared) if paired else (sorted(arm), sorted(baseline))
    if len(arm_seeds) < 2 or len(base_seeds) < 2:
        raise ValueError(f"Welch's test needs >= 2 seeds per arm: arm has {len(arm)}, baseline {len(baseline)}")
    a, b = _correctness(arm, arm_seeds, "arm"), _correctness(baseline, base_seeds, "baseline")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"arm and baseline must be scored on the same test images: {a.shape[1]} vs {b.shape[1]}")
    diff, var, df = crossed_difference(a, b, paired)
    _, p, low, high = _t_interval(diff, var, df, confidence)
    seed = (paired_test if paired else welch_test)(a.mean(1), b.mean(1), confidence=confidence)
    return {"design": "paired" if paired else "welch", "seeds": sorted(set(arm_seeds) | set(base_seeds)),
            "n": a.shape[0], "n_arm": a.shape[0], "n_base": b.shape[0], "mean": float(a.mean()),
            "baseline_mean": float(b.mean()), "difference": diff, "ci_low": low, "ci_high": high, "p_value": p,
            "df": df, "seed_ci_low": seed.ci_low, "seed_ci_high": seed.ci_high, "seed_p_value": seed.p_value,
            "seed_df": seed.df, "confidence": confidence}


def adjust_family(rows: list[dict], alpha: float = 0.05) -> list[dict]:
    """Holm-adjust ``p_value`` and ``seed_p_value`` over the rows (``family``: how many) and give each its verdict, the
    one place verdicts are made: the crossed p decides; if only the seed-level p survives, it holds for this test set
    alone. A row without a p is the baseline."""
    adjusted, seed_adjusted = (holm_adjust([row.get(k, math.nan) for row in rows]) for k in ("p_value", "seed_p_value"))
    family = sum(not math.isnan(p) for p in adjusted)
    this_set = {HELPS: HELPS_THIS_TEST_SET, HURTS: HURTS_THIS_TEST_SET, NO_DIFFERENCE: NO_DIFFERENCE}
    for row, p, seed_p in zip(rows, adjusted, seed_adjusted, strict=True):
        row.update(p_adjusted=p, seed_p_adjusted=seed_p, family=family)
        word = verdict(p, row.get("difference", 0.0), alpha)
        if word == NO_DIFFERENCE and not math.isnan(seed_p):
            word = this_set[verdict(seed_p, row["difference"], alpha)]
        row["verdict"] = BASELINE if math.isnan(p) else word
    return rows


def detectable_effect(sd: float, n: int, alpha: float, power: float = 0.8, paired: bool = True) -> float:
    """The true difference a two-sided t-test at `alpha` detects with probability `power` (noncentral t), for planning:
    `sd` of per-seed differences (paired, n pairs) or of each arm (unpaired, n seeds each)."""
    if not (n >= 2 and sd >= 0 and 0 < alpha < power < 1):
        raise ValueError(f"need n >= 2, sd >= 0 and 0 < alpha < power < 1, got n={n}, sd={sd}, {alpha=}, {power=}")
    df, se = (n - 1, sd / math.sqrt(n)) if paired else (2 * n - 2, sd * math.sqrt(2 / n))
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    ncp = optimize.brentq(lambda ncp: float(stats.nct.sf(crit, df, ncp) + stats.nct.sf(crit, df, -ncp)) - power,
                          0.0, 10 * (crit + 1), xtol=1e-10)  # the noncentrality of that power (both tails)
    return se * float(ncp)


def best_by_validation(candidates: Mapping[str, Sequence[float]]) -> str:
    """The candidate with the highest mean validation accuracy (exact ties: the first). A missing or non-finite value
    is an error naming the candidate: max() would let a NaN win or lose by its position."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    for name, values in candidates.items():
        if len(values) == 0 or any(v is None or not math.isfinite(v) for v in values):
            raise ValueError(f"candidate {name!r} has no or missing/non-finite validation accuracies: {list(values)}")
    # fsum: the same values in another order tie exactly
    return max(candidates, key=lambda name: math.fsum(candidates[name]) / len(candidates[name]))


def format_pct(x: float, digits: int = 2) -> str:
    """Accuracy fraction as a percentage: 0.99123 -> "99.12%"."""
    return f"{x * 100:.{digits}f}%"


def format_mean_std(values: ArrayLike, digits: int = 2) -> str:
    """Accuracies as "99.10% ± 0.14" (points; the spread is left out for a single value)."""
    s = summarize(values)
    return format_pct(s.mean, digits) + (f" ± {100 * s.std:.{digits}f}" if s.n > 1 else "")
