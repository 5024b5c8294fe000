"""Every figure of the report; each function draws from results and saves under figures/ with a stable name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from mnistlib.io import atomic_path

PALETTE = {"lenet5": "#1f77b4", "mlp": "#d62728", "baseline": "#1f77b4", "best": "#2ca02c"}
METRICS = [
    ("train_loss", "Training loss", "loss"),
    ("train_acc", "Training accuracy", "accuracy (%)"),
    ("test_loss", "Test loss", "loss"),
    ("test_acc", "Test accuracy", "accuracy (%)"),
]


def save(fig: plt.Figure, figures_dir: str | Path | None, name: str) -> plt.Figure:
    """Write `fig` as figures/<name>.png (atomically) and return it so the notebook shows it."""
    if figures_dir is not None:
        path = Path(figures_dir) / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return fig


def digit_grid(images: torch.Tensor, labels: Sequence[str], columns: int = 10, title: str = "",
               figures_dir: str | Path | None = None, name: str = "digits") -> plt.Figure:
    """Digits (uint8 [N,28,28] or normalised float [N,1,28,28]) with a caption under each."""
    images = images.detach().cpu()
    if images.ndim == 4:
        images = images[:, 0]
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.95, rows * 1.15))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, image, caption in zip(np.atleast_1d(axes).ravel(), images, labels, strict=False):
        ax.imshow(image.float().numpy(), cmap="gray_r")
        ax.set_title(caption, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, figures_dir, name)


def class_counts(train_labels: torch.Tensor, test_labels: torch.Tensor,
                 figures_dir: str | Path | None = None) -> plt.Figure:
    """Images per class in each split: MNIST is nearly balanced, so accuracy is a fair summary."""
    fig, ax = plt.subplots(figsize=(7, 3))
    digits = np.arange(10)
    train = np.bincount(train_labels.numpy(), minlength=10)
    test = np.bincount(test_labels.numpy(), minlength=10)
    ax.bar(digits - 0.2, train, width=0.4, label=f"train ({train.sum():,})")
    ax.bar(digits + 0.2, test, width=0.4, label=f"test ({test.sum():,})")
    ax.set_xticks(digits)
    ax.set_xlabel("digit")
    ax.set_ylabel("images")
    ax.set_ylim(0, train.max() * 1.25)  # headroom so the legend never covers a bar
    ax.legend(loc="upper center", ncols=2, frameon=False)
    ax.set_title("Images per class")
    fig.tight_layout()
    return save(fig, figures_dir, "01_class_counts")


def _stack(histories: Sequence[list[dict[str, float]]], key: str) -> np.ndarray:
    return np.array([[record[key] for record in history] for history in histories], dtype=float)


def _band(ax: plt.Axes, histories: Sequence[list[dict[str, float]]], key: str, label: str, color: str) -> None:
    values = _stack(histories, key)
    if key.endswith("acc"):
        values = values * 100
    epochs = np.arange(1, values.shape[1] + 1)
    mean = values.mean(0)
    seeds = len(histories)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.plot(epochs, mean, marker="o", markersize=3, color=color,
            label=f"{label} (mean of {seeds} seeds)" if seeds > 1 else label)
    if seeds > 1:
        ax.fill_between(epochs, values.min(0), values.max(0), color=color, alpha=0.2, linewidth=0)


def four_curves(histories: dict[str, Sequence[list[dict[str, float]]]], title: str,
                figures_dir: str | Path | None = None, name: str = "curves") -> plt.Figure:
    """The assignment's four plots (training/test loss/accuracy per epoch), one line per model, seeds as a band."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    for ax, (key, label, unit) in zip(axes.ravel(), METRICS, strict=True):
        for model, runs in histories.items():
            _band(ax, runs, key, model, PALETTE.get(model.split()[0].lower(), None) or f"C{len(ax.lines)}")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, figures_dir, name)


def accuracy_intervals(rows: list[dict[str, Any]], figures_dir: str | Path | None = None,
                       name: str = "04_accuracy_ci") -> plt.Figure:
    """Mean test accuracy per arm with its 95% confidence interval and every seed as a dot."""
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(rows) + 1.2))
    colors = {"helps": "#2ca02c", "hurts": "#d62728", "no significant difference": "#7f7f7f", "baseline": "#1f77b4"}
    for i, row in enumerate(rows):
        color = colors.get(row["verdict"], "#7f7f7f")
        ax.errorbar(row["mean"] * 100, i, xerr=[[100 * (row["mean"] - row["ci_low"])],
                                                [100 * (row["ci_high"] - row["mean"])]],
                    fmt="o", color=color, capsize=4)
        ax.scatter(np.array(row.get("values", [])) * 100, [i] * len(row.get("values", [])),
                   color=color, alpha=0.35, s=12)
    ax.axvline(rows[0]["mean"] * 100, color="#1f77b4", linestyle="--", linewidth=1, label="baseline mean")
    # Zoom on the seeds: with few seeds an interval can reach past 100%, which says only "too few seeds".
    seen = [100 * v for row in rows for v in row.get("values", [row["mean"]])]
    pad = max(0.05, 0.4 * (max(seen) - min(seen)))
    ax.set_xlim(min(seen) - pad, min(100.0, max(seen) + pad))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{row['label']} ({row['verdict']})" for row in rows])
    ax.invert_yaxis()
    ax.set_xlabel("final-epoch test accuracy (%), mean with 95% CI; dots are seeds")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save(fig, figures_dir, name)


def validation_curves(histories: dict[str, Sequence[list[dict[str, float]]]], title: str,
                      figures_dir: str | Path | None = None, name: str = "04_baseline_vs_best") -> plt.Figure:
    """Training and validation loss/accuracy per epoch (the study scores test data only at the end)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colors = iter(["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd"])
    for label, runs in histories.items():
        color = next(colors)
        for ax, split in zip(axes, ("loss", "acc"), strict=True):
            _band(ax, runs, f"val_{split}", f"{label}, validation", color)
            values = _stack(runs, f"train_{split}") * (100 if split == "acc" else 1)
            ax.plot(np.arange(1, values.shape[1] + 1), values.mean(0), linestyle=":", color=color,
                    label=f"{label}, training")
    for ax, unit in zip(axes, ("loss", "accuracy (%)"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[1].set_ylim(bottom=max(axes[1].get_ylim()[0], 95))
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, figures_dir, name)


def confusion_matrices(matrices: dict[str, np.ndarray], figures_dir: str | Path | None = None,
                       name: str = "05_confusion") -> plt.Figure:
    """Confusion matrices side by side, errors only: the diagonal is left blank (its total is in the title) and
    every error count is printed, white on dark cells and black on light ones, large enough to read projected."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(5.2 * len(matrices), 5.2), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], matrices.items(), strict=True):
        errors = matrix.astype(float).copy()
        np.fill_diagonal(errors, np.nan)
        top = max(1.0, float(np.nanmax(errors)))
        ax.imshow(errors, cmap="Reds", vmin=0, vmax=top)
        for (i, j), count in np.ndenumerate(matrix):
            if i != j and count:
                dark = count / top > 0.45  # Reds is dark enough there that black would not read
                ax.text(j, i, int(count), ha="center", va="center", fontsize=11,
                        color="white" if dark else "black", fontweight="bold" if dark else "normal")
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.tick_params(labelsize=11)
        ax.set_xlabel("predicted digit", fontsize=11)
        ax.set_ylabel("true digit", fontsize=11)
        wrong = int(matrix.sum() - matrix.trace())
        ax.set_title(f"{title}\n{int(matrix.trace()):,} of {int(matrix.sum()):,} right, {wrong:,} errors", fontsize=11)
    fig.tight_layout()
    return save(fig, figures_dir, name)


def per_class_accuracy(accuracies: dict[str, np.ndarray], figures_dir: str | Path | None = None,
                       name: str = "05_per_class") -> plt.Figure:
    """Accuracy for each digit and model: where the models differ, not only by how much. The y axis is zoomed
    (it starts just below the lowest bar, not at 0): the title says so and the axis carries a break mark."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(accuracies)
    for k, (label, acc) in enumerate(accuracies.items()):
        ax.bar(np.arange(10) + (k - (len(accuracies) - 1) / 2) * width, acc * 100, width=width, label=label)
    ax.set_xticks(range(10))
    ax.set_xlabel("digit")
    ax.set_ylabel("test accuracy (%)")
    low = min(float(acc.min()) for acc in accuracies.values()) * 100
    bottom = max(0.0, float(np.floor(low - 0.5)))
    ax.set_ylim(bottom, 100.0)
    if bottom > 0:
        ax.set_title(f"Test accuracy per digit: the y axis starts at {bottom:g}%, not at 0", fontsize=11)
        mark = {"transform": ax.transAxes, "color": "black", "clip_on": False, "linewidth": 1}
        for y in (0.0, 0.03):  # the usual "axis broken here" zigzag at the bottom of the y axis
            ax.plot([-0.012, 0.012], [y - 0.012, y + 0.012], **mark)
    ax.legend(fontsize=10, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=len(accuracies), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save(fig, figures_dir, name)
