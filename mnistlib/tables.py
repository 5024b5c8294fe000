"""Every table and generated sentence of the report, one builder each; notebooks, README and CLI call these.

Tables are Markdown (they read the same in a notebook, the exported report, the slides and README); every
number in them and in the sentences comes from a `Study` or a tuning record, never typed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mnistlib.stats import HELPS, HURTS, format_mean_std

TEST_NAMES = {"welch": "Welch's t-test", "paired": "paired t-test"}


def markdown_table(rows: Sequence[dict[str, Any]], columns: dict[str, str]) -> str:
    """A Markdown table of `rows` with `columns` (key -> header); cells are str()-ed, pipes escaped."""
    head = "| " + " | ".join(columns.values()) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(str(row.get(key, "")).replace("|", "\\|") for key in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def points(x: float, digits: int = 2) -> str:
    """A signed difference of accuracies in percentage points; never "-0.00"."""
    text = f"{100 * x:+.{digits}f}"
    return text.replace("-", "+", 1) if float(text) == 0 else text


def p_cell(p: float) -> str:
    """A p-value for a table cell (no "p =", so nothing wraps): "0.012", "< 0.001"."""
    if math.isnan(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def images(difference: float, n_test: int) -> str:
    """A difference of accuracies as test images out of n_test: "+12 of 10,000"."""
    return f"{difference * n_test:+.0f} of {n_test:,}"


def interval(low: float, high: float) -> str:
    return "" if math.isnan(low) else f"{points(low)} to {points(high)}"


def verdict_text(row: dict[str, Any]) -> str:
    """The verdict as words that say what the data support: a direction, or the size that was ruled out."""
    if row["verdict"] in (HELPS, HURTS):
        return row["verdict"]
    return f"no effect larger than ±{100 * row['mde']:.2f} points detected" if not math.isnan(row["mde"]) \
        else "no effect detected"


def finding(row: dict[str, Any], subject: str | None = None) -> str:
    """One sentence for a compared row: verdict, difference with CI, in test images, the test, adjusted p,
    the design's detectable effect, and the bootstrap over seeds and test images."""
    subject = subject or row["label"]
    n_test = row.get("n_test", 10_000)
    evidence = (f"{points(row['difference'])} points (95% CI {interval(row['diff_ci_low'], row['diff_ci_high'])}; "
                f"{images(row['difference'], n_test)} test images), {TEST_NAMES[row['test']]} over "
                f"{row['n']} seeds, Holm-adjusted p {_p_words(row['p_adjusted'])}")
    if "boot_p_adjusted" in row:
        evidence += (f"; over seeds and test images together: 95% CI "
                     f"{interval(row['boot_diff_ci_low'], row['boot_diff_ci_high'])}, adjusted p "
                     f"{_p_words(row['boot_p_adjusted'])}")
    if row["verdict"] in (HELPS, HURTS):
        return f"**{subject} {row['verdict']}**: {evidence}."
    return (f"**{subject}: {verdict_text(row)}** (this design detects ±{100 * row['mde']:.2f} points with 80% power): "
            f"{evidence}.")


def _p_words(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def comparison_table(rows: list[dict[str, Any]], baseline_row: bool = True) -> str:
    """Arms against a baseline: mean with its CI, difference with its CI and in test images, the detectable
    effect, raw and Holm-adjusted p, the seeds-and-images bootstrap, and the (adjusted) verdict."""
    cells = []
    for row in rows if baseline_row else rows[1:]:
        is_base = row["verdict"] == "baseline"
        n_test = row.get("n_test", 10_000)
        cells.append({
            "arm": row["label"], "seeds": row["n"], "mean": pct(row["mean"]),
            "ci": f"{pct(row['ci_low'])} to {pct(row['ci_high'])}" if row["n"] > 1 else "",
            "diff": "" if is_base else points(row["difference"]),
            "diff_ci": "" if is_base else interval(row["diff_ci_low"], row["diff_ci_high"]),
            "images": "" if is_base else images(row["difference"], n_test).split(" of ")[0],
            "mde": "" if is_base or math.isnan(row["mde"]) else f"±{100 * row['mde']:.2f}",
            "p": "" if is_base else p_cell(row["p_value"]),
            "p_adj": "" if is_base else p_cell(row["p_adjusted"]),
            "boot": "" if is_base or "boot_diff_ci_low" not in row
            else interval(row["boot_diff_ci_low"], row["boot_diff_ci_high"]),
            "boot_p": "" if is_base or "boot_p_adjusted" not in row else p_cell(row["boot_p_adjusted"]),
            "verdict": "baseline" if is_base else verdict_text(row),
        })
    return markdown_table(cells, {
        "arm": "arm", "seeds": "seeds", "mean": "mean test acc", "ci": "95% CI", "diff": "vs baseline (points)",
        "diff_ci": "95% CI (points)", "images": "test images", "mde": "detectable (80% power)", "p": "p",
        "p_adj": "Holm p", "boot": "bootstrap 95% CI", "boot_p": "bootstrap Holm p", "verdict": "verdict",
    })


def pair_table(rows: list[dict[str, Any]]) -> str:
    """Planned comparisons with different baselines (notebook 6): one line per pair."""
    cells = [{
        "comparison": f"{row['label']} vs {row['baseline_label']}", "seeds": row["n"],
        "means": f"{pct(row['mean'])} vs {pct(row['baseline_mean'])}",
        "diff": f"{points(row['difference'])} ({interval(row['diff_ci_low'], row['diff_ci_high'])})",
        "images": images(row["difference"], row.get("n_test", 10_000)).split(" of ")[0],
        "mde": f"±{100 * row['mde']:.2f}" if not math.isnan(row["mde"]) else "",
        "p_adj": p_cell(row["p_adjusted"]),
        "boot": interval(row["boot_diff_ci_low"], row["boot_diff_ci_high"]),
        "verdict": verdict_text(row),
    } for row in rows]
    return markdown_table(cells, {
        "comparison": "comparison", "seeds": "seeds", "means": "mean test acc", "diff": "difference, points (95% CI)",
        "images": "test images", "mde": "detectable", "p_adj": "Holm p", "boot": "bootstrap 95% CI",
        "verdict": "verdict",
    })


def targets_table(targets: list[dict[str, Any]]) -> str:
    return markdown_table([{**t, "met": "met" if t["met"] else "**not met**"} for t in targets],
                          {"target": "target", "measured": "measured", "met": "status"})


def tuning_table(record: dict[str, Any], what: str = "candidate") -> str:
    """A validation decision: every candidate's mean validation accuracy (and per seed), the winner marked."""
    cells = []
    for cand in sorted(record["candidates"], key=lambda c: -c["mean_val_acc"]):
        cells.append({
            "name": f"**{cand['name']}** (chosen)" if cand["name"] == record["winner"] else cand["name"],
            "params": f"{cand['parameters']:,}",
            "mean": pct(cand["mean_val_acc"]),
            "seeds": " / ".join(pct(v) for v in cand["val_acc"]),
        })
    return markdown_table(cells, {"name": what, "params": "parameters",
                                  "mean": f"mean validation acc ({len(record['seeds'])} seeds)",
                                  "seeds": "per seed"})


def epoch_table(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Per-epoch means over seeds of loss, accuracy (in %) and seconds, one row per epoch."""
    frame = pd.concat([pd.DataFrame(r["history"]) for r in runs]).groupby("epoch").mean(numeric_only=True)
    keep = [c for c in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "seconds")
            if c in frame]
    frame = frame[keep]
    for column in keep:
        if column.endswith("_acc"):
            frame[column] = (100 * frame[column]).round(2)
        elif column.endswith("_loss"):
            frame[column] = frame[column].round(4)
    frame["seconds"] = frame["seconds"].round(1)
    return frame.rename(columns=lambda c: c.replace("_acc", " acc (%)").replace("_", " "))


def summary_line(values: Sequence[float]) -> str:
    """Mean ± std in percent for a set of per-seed accuracies."""
    return format_mean_std(list(values))


def error_ratio(better: Sequence[float], worse: Sequence[float]) -> float:
    """How many times as many test errors `worse` makes as `better` (means over seeds)."""
    return float((1 - np.mean(worse)) / (1 - np.mean(better)))
