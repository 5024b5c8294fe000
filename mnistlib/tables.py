"""The report's tables as Markdown (the same in a notebook, the report, the slides and README), and the formatters
their cells and the notebooks' sentences share. Every number comes from runs, a comparison row or a tuning record."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mnistlib import stats
from mnistlib.models import count_parameters, multiply_accumulates, parameter_table
from mnistlib.stats import format_pct as pct


def markdown_table(rows: Sequence[dict[str, Any]], columns: dict[str, str]) -> str:
    """A Markdown table of `rows` with `columns` (key -> header); cells are str()-ed, pipes escaped."""
    head = "| " + " | ".join(columns.values()) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(str(row.get(key, "")).replace("|", "\\|") for key in columns) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def points(x: float, digits: int = 2) -> str:
    """A signed difference of accuracies in percentage points; never "-0.00"."""
    text = f"{100 * x:+.{digits}f}"
    return text.replace("-", "+", 1) if float(text) == 0 else text


def p_text(p: float) -> str:
    """A p-value as a table cell: "0.012", "< 0.001", "" for none."""
    return "" if math.isnan(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_words(p: float) -> str:
    """A p-value inside a sentence: "= 0.012", "< 0.001"."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def interval(low: float, high: float) -> str:
    return "" if math.isnan(low) else f"{points(low)} to {points(high)}"


DESIGN_WORDS = {"paired": "paired by seed", "welch": "Welch's test (no shared seeds)"}


def evidence(row: dict[str, Any]) -> str:
    """What backs a compared row, for a sentence: the difference with its 95% CI for new seeds and new test images,
    in test images, the design, the Holm-adjusted p, and the same for this test set alone (or why there is no test)."""
    if row.get("untested"):
        return f"{points(row['difference'])} points; too few seeds ({row['n']}) for a test"
    holm = f"Holm-adjusted over {row['family']} comparisons, " if row["family"] > 1 else ""
    return (f"{points(row['difference'])} points (95% CI {interval(row['ci_low'], row['ci_high'])} for new seeds and "
            f"new test images; {row['difference'] * row['n_test']:+.0f} of {row['n_test']:,} test images), "
            f"{DESIGN_WORDS[row['design']]} over {row['n']} seeds, {holm}p {p_words(row['p_adjusted'])}; on this "
            f"test set alone 95% CI {interval(row['seed_ci_low'], row['seed_ci_high'])}, p "
            f"{p_words(row['seed_p_adjusted'])}")


# How a verdict reads: a technique "helps" a baseline; one model's accuracy is "higher" than another's.
MODEL_WORDS = {stats.HELPS: "higher", stats.HURTS: "lower",
               stats.HELPS_THIS_TEST_SET: "higher on this test set (not shown for new digits)",
               stats.HURTS_THIS_TEST_SET: "lower on this test set (not shown for new digits)"}


def verdict_text(row: dict[str, Any], models: bool = False) -> str:
    """The verdict of a compared row in words; rows with too few seeds are "not tested"."""
    if row.get("untested"):
        return f"not tested ({row['n']} seeds)"
    return MODEL_WORDS.get(row["verdict"], row["verdict"]) if models else row["verdict"]


def _difference_cells(row: dict[str, Any], models: bool = False) -> dict[str, str]:
    """The cells every comparison table shares: the difference with its intervals, p-values and the verdict."""
    if row.get("untested"):
        return {"diff": points(row["difference"]), "verdict": verdict_text(row, models)}
    return {"diff": f"{points(row['difference'])} ({interval(row['ci_low'], row['ci_high'])})",
            "images": f"{row['difference'] * row['n_test']:+.0f}",
            "seed_ci": interval(row["seed_ci_low"], row["seed_ci_high"]), "p": p_text(row["p_adjusted"]),
            "seed_p": p_text(row["seed_p_adjusted"]), "verdict": verdict_text(row, models)}


_DIFFERENCE_COLUMNS = {"diff": "difference, points (95% CI, seeds and test images)", "images": "test images",
                       "seed_ci": "95% CI, this test set", "p": "Holm p", "seed_p": "Holm p, this test set",
                       "verdict": "verdict"}


def comparison_table(rows: list[dict[str, Any]], compact: bool = False) -> str:
    """Arms against one baseline (its row first): mean, difference with its CI for new seeds and test images and for
    this test set, both Holm-adjusted p-values, verdict; `compact`, for a slide: mean, difference, Holm p, verdict."""
    first = rows[0]
    cells = [{"arm": first["baseline_label"], "seeds": first["n"], "mean": pct(first["baseline_mean"]),
              "verdict": "baseline"}]
    cells += [{"arm": row["label"], "seeds": row["n"], "mean": pct(row["mean"]), **_difference_cells(row)}
              for row in rows]
    columns = {"arm": "arm", "seeds": "seeds", "mean": "mean test acc", **_DIFFERENCE_COLUMNS}
    if compact:
        columns = {key: columns[key] for key in ("arm", "mean", "diff", "p", "verdict")}
    return markdown_table(cells, columns)


def pair_table(rows: list[dict[str, Any]]) -> str:
    """Planned comparisons with different baselines (notebook 6): one line per pair, on the seeds they share."""
    cells = [{"comparison": f"{row['label']} vs {row['baseline_label']}", "seeds": row["n"],
              "means": f"{pct(row['mean'])} vs {pct(row['baseline_mean'])}", **_difference_cells(row, models=True)}
             for row in rows]
    return markdown_table(cells, {"comparison": "comparison", "seeds": "seeds", "means": "mean test acc",
                                  **_DIFFERENCE_COLUMNS})


def targets_table(targets: list[dict[str, Any]]) -> str:
    """Each target beside what was measured: rows of {"target", "measured", "met"}."""
    return markdown_table([{**t, "met": "met" if t["met"] else "**not met**"} for t in targets],
                          {"target": "target", "measured": "measured", "met": "status"})


def tuning_table(record: dict[str, Any], what: str = "candidate") -> str:
    """A validation decision: every candidate's mean validation accuracy (and per seed), the winner marked."""
    cells = [{"name": f"**{cand['name']}** (chosen)" if cand["name"] == record["winner"] else cand["name"],
              "params": f"{cand['parameters']:,}", "mean": pct(cand["mean_val_acc"]),
              "seeds": " / ".join(pct(v) for v in cand["val_acc"])}
             for cand in sorted(record["candidates"], key=lambda c: -c["mean_val_acc"])]
    return markdown_table(cells, {"name": what, "params": "parameters",
                                  "mean": f"mean validation acc ({len(record['seeds'])} seeds)", "seeds": "per seed"})


def epoch_table(histories: list[list[dict[str, float]]]) -> str:
    """Per-epoch means over seeds: losses (4 decimals), accuracies in %, seconds; one row per epoch."""
    columns = [c for c in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "seconds")
               if c in histories[0][0]]
    means = pd.concat([pd.DataFrame(h) for h in histories]).groupby("epoch")[columns].mean()
    rows = [{"epoch": int(epoch), **{c: (pct(v) if c.endswith("_acc") else f"{v:.4f}" if c.endswith("_loss")
                                         else f"{v:.1f}") for c, v in row.items()}}
            for epoch, row in means.iterrows()]
    return markdown_table(rows, {"epoch": "epoch", **{c: c.replace("_acc", " acc").replace("_", " ") for c in columns}})


def error_table(rows: list[tuple[str, Sequence[float] | float, str]]) -> str:
    """Test errors side by side: (model, accuracies per seed or one published accuracy, note)."""
    cells = []
    for model, accuracies, note in rows:
        values = np.atleast_1d(np.asarray(accuracies, dtype=float))
        spread = f" ± {100 * values.std(ddof=1):.2f}" if len(values) > 1 else ""
        cells.append({"model": model, "error": f"{100 * (1 - values.mean()):.2f}%{spread}", "note": note})
    return markdown_table(cells, {"model": "model", "error": "test error", "note": "note"})


def confusion(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """10 x 10 counts: row = true digit, column = predicted digit."""
    return np.bincount(10 * truth + predicted, minlength=100).reshape(10, 10)


def confused_pairs_table(matrices: list[np.ndarray], top: int = 10) -> str:
    """The digit pairs most often confused, summed over runs, with the rate per run."""
    total = sum(matrices)
    np.fill_diagonal(total, 0)
    pairs = sorted(((int(total[i, j]), i, j) for i in range(10) for j in range(10) if total[i, j]), reverse=True)
    rows = [{"true": i, "predicted": j, "count": n, "per run": f"{n / len(matrices):.1f}"} for n, i, j in pairs[:top]]
    return markdown_table(rows, {"true": "true digit", "predicted": "predicted as",
                                 "count": f"errors over {len(matrices)} runs", "per run": "per run"})


def layer_table(model: Any) -> str:
    """Per-layer parameter formula and count, each formula checked against the module (`models.parameter_table`)."""
    rows = [{"layer": r.name, "type": r.kind, "shape": r.shape, "formula": r.formula, "count": f"{r.count:,}"}
            for r in parameter_table(model)]
    return markdown_table(rows, {"layer": "layer", "type": "type", "shape": "in -> out",
                                 "formula": "formula (weights + biases)", "count": "parameters"})


def budget_table(models: dict[str, Any]) -> str:
    """Parameters and multiply-accumulates per image (and per parameter) of each model, side by side."""
    counts = {name: (count_parameters(m), multiply_accumulates(m)) for name, m in models.items()}
    return markdown_table([
        {"what": "parameters", **{n: f"{p:,}" for n, (p, _) in counts.items()}},
        {"what": "multiply-accumulates per image", **{n: f"{mac:,}" for n, (_, mac) in counts.items()}},
        {"what": "multiply-accumulates per parameter", **{n: f"{mac / p:.1f}" for n, (p, mac) in counts.items()}},
    ], {"what": "", **{name: name for name in models}})
