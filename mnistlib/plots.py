"""Every figure of the report; each function draws from results and saves under figures/ with a stable name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from mnistfiles.io import atomic_path
from mnistlib import stats
from mnistlib.data.batches import normalise

Folder = str | Path | None  # where a figure is written as <name>.png (None: not written)
Histories = Sequence[list[dict[str, float]]]  # per seed, one record per epoch
MODEL_COLORS = {"LeNet-5": "#1f77b4", "CustomMLP": "#ff7f0e"}  # also the deck's, the demo's (mnistreport/demo.css)
OTHER_COLOR = "#9467bd"  # any other configuration (the best arm): never a model's colour nor a verdict's
plt.rcParams["font.size"] = 14  # every text at least 13 pt: readable in the slide deck at 1024x768
VERDICT_COLORS = {stats.HELPS: "#2ca02c", stats.HURTS: "#d62728", stats.HELPS_THIS_TEST_SET: "#98df8a",
                  stats.HURTS_THIS_TEST_SET: "#ff9896", stats.NO_DIFFERENCE: "#7f7f7f"}
METRICS = [("train_loss", "Training loss", "loss"), ("train_acc", "Training accuracy", "accuracy (%)"),
           ("test_loss", "Test loss", "loss"), ("test_acc", "Test accuracy", "accuracy (%)")]


def model_color(label: str) -> str:
    """LeNet-5 blue and CustomMLP orange in every figure (a label naming the model counts), anything else purple."""
    return next((color for model, color in MODEL_COLORS.items() if model in label), OTHER_COLOR)


def save(fig: plt.Figure, figures_dir: Folder, name: str, title: str = "", tight: bool = True) -> plt.Figure:
    """Title and lay out `fig`, write it as figures/<name>.png (atomically) and return it so the notebook shows it."""
    if title:
        fig.suptitle(title)
    if tight:
        fig.tight_layout()
    if figures_dir is not None:
        with atomic_path(Path(figures_dir) / f"{name}.png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    return fig


def digit_grid(images: torch.Tensor, labels: Sequence[str], columns: int = 10, title: str = "",
               figures_dir: Folder = None, name: str = "digits") -> plt.Figure:
    """Digits (uint8 [N,28,28] or normalised float [N,1,28,28]) with a caption under each."""
    images = images.detach().cpu().squeeze(1)  # [N,1,28,28] -> [N,28,28]
    rows = max(1, int(np.ceil(len(images) / columns)))
    width = max(0.95, 0.12 * max(map(len, labels), default=0))  # captions of 13 pt never run together
    fig, axes = plt.subplots(rows, columns, figsize=(columns * width, rows * 1.15), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, labels, strict=False):
        ax.imshow(image.float().numpy(), cmap="gray_r")
        ax.set_title(caption, fontsize=13)
    return save(fig, figures_dir, name, title)


def class_counts(train_labels: torch.Tensor, test_labels: torch.Tensor, figures_dir: Folder = None) -> plt.Figure:
    """Images per class in each split: MNIST is nearly balanced, so accuracy is a fair summary."""
    fig, ax = plt.subplots(figsize=(7, 3))
    digits, train, test = np.arange(10), *(np.bincount(y.numpy(), minlength=10) for y in (train_labels, test_labels))
    ax.bar(digits - 0.2, train, width=0.4, label=f"train ({train.sum():,})", color="0.35")  # grey: not a model
    ax.bar(digits + 0.2, test, width=0.4, label=f"test ({test.sum():,})", color="0.7")
    ax.set(xticks=digits, xlabel="digit", ylabel="images", ylim=(0, train.max() * 1.4), title="Images per class")
    ax.legend(loc="upper center", ncols=2, frameon=False)  # in the headroom ylim leaves above the bars
    return save(fig, figures_dir, "01_class_counts")


def _per_epoch(histories: Histories, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epoch numbers and a seeds x epochs array of `key` (accuracies in %)."""
    values = np.array([[record[key] for record in history] for history in histories], dtype=float)
    return np.arange(1, values.shape[1] + 1), values * 100 if key.endswith("acc") else values


def _band(ax: plt.Axes, histories: Histories, key: str, label: str, color: str) -> None:
    (epochs, values), seeds = _per_epoch(histories, key), len(histories)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.plot(epochs, values.mean(0), marker="o", markersize=3, color=color,
            label=f"{label} (mean of {seeds} seeds)" if seeds > 1 else label)
    if seeds > 1:
        ax.fill_between(epochs, values.min(0), values.max(0), color=color, alpha=0.2, linewidth=0)


def four_curves(histories: dict[str, Histories], title: str, figures_dir: Folder = None, name: str = "curves"
                ) -> plt.Figure:
    """The assignment's four plots (training/test loss/accuracy per epoch), one line per model, seeds as a band."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.6))
    for ax, (key, label, unit) in zip(axes.ravel(), METRICS, strict=True):
        for model, runs in histories.items():
            _band(ax, runs, key, model, model_color(model))
        ax.set(title=label, xlabel="epoch", ylabel=unit)
        ax.grid(alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0), ncols=len(histories))
    return save(fig, figures_dir, name, title)


def accuracy_intervals(rows: list[dict[str, Any]], figures_dir: Folder = None, name: str = "04_accuracy_ci"
                       ) -> plt.Figure:
    """Each arm's difference from the baseline: the 95% CI for new seeds and test images (thick) and for this test
    set alone (thin), coloured by the verdict (`stats.adjust_family`); rows without a test show the difference only."""
    fig, ax = plt.subplots(figsize=(12, 0.6 * len(rows) + 1.6))
    for i, row in enumerate(rows):
        color = VERDICT_COLORS.get(row.get("verdict"), "#7f7f7f")
        if not row.get("untested"):
            ax.plot([100 * row["seed_ci_low"], 100 * row["seed_ci_high"]], [i, i], color=color, linewidth=1.5)
            ax.plot([100 * row["ci_low"], 100 * row["ci_high"]], [i, i], color=color, linewidth=6, alpha=0.6,
                    solid_capstyle="butt")
        ax.plot(100 * row["difference"], i, "o", color=color, markersize=8)
    ax.axvline(0, color="black", linestyle="--", linewidth=1)
    labels = [row["label"] if row.get("untested") else f"{row['label']}: {row['verdict']}" for row in rows]
    _rows(ax, labels, f"difference from {rows[0]['baseline_label']} (points of test accuracy)",
          "thick: 95% CI for new seeds and new test images; thin: this test set alone")
    return save(fig, figures_dir, name)


def _rows(ax: plt.Axes, labels: list[str], xlabel: str, title: str) -> None:
    """One labelled row per configuration, top to bottom, on a shared accuracy axis."""
    ax.set(yticks=range(len(labels)), yticklabels=labels, xlabel=xlabel)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=14)
    ax.grid(axis="x", alpha=0.3)


def validation_curves(histories: dict[str, Histories], title: str, figures_dir: Folder = None,
                      name: str = "04_baseline_vs_best") -> plt.Figure:
    """Training and validation loss/accuracy per epoch (the study scores test data only at the end)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, split, unit in zip(axes, ("loss", "acc"), ("loss", "accuracy (%)"), strict=True):
        for label, runs in histories.items():
            _band(ax, runs, f"val_{split}", f"{label}, validation", model_color(label))
            epochs, values = _per_epoch(runs, f"train_{split}")
            ax.plot(epochs, values.mean(0), linestyle=":", color=model_color(label), label=f"{label}, training")
        ax.set(xlabel="epoch", ylabel=unit)
        ax.grid(alpha=0.3)
    fig.legend(*axes[1].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0), ncols=2)
    axes[1].set_ylim(bottom=max(axes[1].get_ylim()[0], 95))
    return save(fig, figures_dir, name, title)


def confusion_matrices(matrices: dict[str, np.ndarray], figures_dir: Folder = None, name: str = "05_confusion"
                       ) -> plt.Figure:
    """The errors of each confusion matrix side by side (the right ones counted in the title), on one colour scale."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.7 * len(matrices) + 1, 4.7), squeeze=False,
                             layout="constrained")
    errors = {title: np.where(np.eye(len(m), dtype=bool), np.nan, m) for title, m in matrices.items()}
    top = max(1.0, *(float(np.nanmax(e)) for e in errors.values()))
    for ax, (title, matrix) in zip(axes[0], matrices.items(), strict=True):
        image = ax.imshow(errors[title], cmap="Reds", vmin=0, vmax=top)
        for (i, j), count in np.ndenumerate(matrix):
            if i != j and count:
                dark = count / top > 0.45  # Reds is dark enough there that black would not read
                ax.text(j, i, int(count), ha="center", va="center", color="white" if dark else "black",
                        fontweight="bold" if dark else "normal")
        ax.set(xticks=range(10), yticks=range(10), xlabel="predicted digit", ylabel="true digit" * (ax is axes[0][0]))
        right, total = int(matrix.trace()), int(matrix.sum())
        ax.set_title(f"{title.replace(' (', chr(10) + '(')}\n{right:,} of {total:,} right, {total - right:,} errors",
                     fontsize=14)
    fig.colorbar(image, ax=axes[0], fraction=0.02, pad=0.02, label="test digits (same scale in every panel)")
    return save(fig, figures_dir, name, tight=False)


def per_class_accuracy(accuracies: dict[str, np.ndarray], figures_dir: Folder = None, name: str = "05_per_class"
                       ) -> plt.Figure:
    """Accuracy for each digit and model: where the models differ, not only by how much (zoomed y axis, marked)."""
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(accuracies)
    for k, (label, acc) in enumerate(accuracies.items()):
        ax.bar(np.arange(10) + (k - (len(accuracies) - 1) / 2) * width, acc * 100, width=width, label=label,
               color=model_color(label))
    bottom = max(0.0, float(np.floor(min(float(acc.min()) for acc in accuracies.values()) * 100 - 0.5)))
    ax.set(xticks=range(10), xlabel="digit", ylabel="test accuracy (%)", ylim=(bottom, 100.0))
    if bottom > 0:
        ax.set_title(f"Test accuracy per digit: the y axis starts at {bottom:g}%, not at 0", fontsize=14)
        mark = {"transform": ax.transAxes, "color": "black", "clip_on": False, "linewidth": 1}
        for y in (0.0, 0.03):  # the usual "axis broken here" zigzag at the bottom of the y axis
            ax.plot([-0.012, 0.012], [y - 0.012, y + 0.012], **mark)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=len(accuracies), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, figures_dir, name)


def robustness(curves: dict[str, Any], labels: dict[str, str], figures_dir: Folder = None,
               name: str = "06_shift_rotation") -> plt.Figure:
    """Accuracy on shifted (mean of four directions) and rotated test digits: mean over seeds, band = range."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (("shift", "shifts", "shift (pixels; mean of left, right, up, down)"),
              ("angle", "angles", "rotation (degrees)"))
    for ax, (axis, steps, xlabel) in zip(axes, panels, strict=True):
        for key, label in labels.items():
            color, values = model_color(label), 100 * curves[key][axis]
            ax.plot(curves[steps], values.mean(0), marker="o", markersize=4, color=color,
                    label=f"{label} ({values.shape[0]} seeds)")
            ax.fill_between(curves[steps], values.min(0), values.max(0), color=color, alpha=0.2)
        ax.set(xlabel=xlabel, ylabel="test accuracy (%)", ylim=(0, 100))
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")  # the curves fall to the right
    return save(fig, figures_dir, name,
                "The same test digits, moved and turned (template runs; band = range over seeds)")


def seed_dots(groups: dict[str, Sequence[float]], title: str, figures_dir: Folder = None, name: str = "06_permuted"
              ) -> plt.Figure:
    """Each configuration's seeds as dots with the mean as a bar, on a shared accuracy axis."""
    fig, ax = plt.subplots(figsize=(10, 0.8 * len(groups) + 1.4))
    for i, (label, values) in enumerate(groups.items()):
        color, values = model_color(label), 100 * np.asarray(values)
        ax.scatter(values, [i] * len(values), color=color, alpha=0.5, s=22)
        ax.plot([values.mean()] * 2, [i - 0.3, i + 0.3], color=color, linewidth=3)
        ax.annotate(f"{values.mean():.2f}%", (values.mean(), i + 0.32), ha="center", va="top")
    _rows(ax, list(groups), "final test accuracy (%): dots = seeds, bar = mean", title)
    ax.set_ylim(len(groups) - 0.05, -0.6)  # room for the last row's mean under its bar
    return save(fig, figures_dir, name)


def learned_weights(c1_filters: torch.Tensor, mlp_first_layer: torch.Tensor, figures_dir: Folder = None,
                    name: str = "06_learned_weights", mlp_units: int = 12) -> plt.Figure:
    """LeNet-5's six 5x5 C1 filters beside the first `mlp_units` of CustomMLP's first-layer units as 28x28 images."""
    fig = plt.figure(figsize=(11, 3.0))
    half = mlp_units // 2
    grid = fig.add_gridspec(2, 3 + 1 + half, wspace=0.3, hspace=0.3)
    panels = [(grid[i // 3, i % 3], c1_filters[i, 0], f"C1 {i}") for i in range(6)]
    panels += [(grid[j // half, 4 + j % half], mlp_first_layer[j].reshape(28, 28), f"unit {j}")
               for j in range(mlp_units)]
    for cell, weights, title in panels:
        ax = fig.add_subplot(cell)
        values = weights.detach().cpu().numpy()
        bound = float(np.abs(values).max()) or 1.0  # symmetric around zero, so zero is always white
        ax.imshow(values, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.axis("off")
        ax.set_title(title, fontsize=13)
    fig.text(0.2, 1.02, "LeNet-5: C1's 5x5 filters\n(shared over the image)", ha="center", va="bottom")
    fig.text(0.68, 1.02, "CustomMLP: first-layer weights of single\nunits (one weight per pixel)", ha="center",
             va="bottom")
    return save(fig, figures_dir, name, tight=False)


def feature_maps(images_u8: torch.Tensor, maps: dict[str, torch.Tensor], figures_dir: Folder = None,
                 name: str = "06_feature_maps", c3_shown: int = 8) -> plt.Figure:
    """For each digit: the input, its six C1 maps and the first `c3_shown` C3 maps (brighter = stronger)."""
    n, columns = len(images_u8), 1 + 6 + c3_shown
    fig, axes = plt.subplots(n, columns, figsize=(columns * 0.8, n * 0.95 + 0.6), squeeze=False)
    for row in range(n):
        panels = [images_u8[row].float()] + list(maps["c1"][row]) + list(maps["c3"][row][:c3_shown])
        for col, (ax, panel) in enumerate(zip(axes[row], panels, strict=True)):
            ax.imshow(panel.cpu().numpy(), cmap="gray_r" if col == 0 else "magma")
            ax.axis("off")
            if row == 0:
                ax.set_title("input" if col == 0 else (f"C1 {col - 1}" if col <= 6 else f"C3 {col - 7}"), fontsize=14)
    return save(fig, figures_dir, name,
                "What LeNet-5 computes: C1 maps (28x28, one per filter) and C3 maps (10x10) for test digits")


def augmented_views(images_u8: torch.Tensor, augment: Any, views: int = 3, seed: int = 0
                    ) -> tuple[torch.Tensor, list[str]]:
    """Each digit normalised, then `views` augmented copies of it (for `digit_grid`): images and captions."""
    batch = normalise(images_u8)
    generator = torch.Generator().manual_seed(seed)
    stacked = torch.stack([batch] + [augment(batch, generator) for _ in range(views)], 1).reshape(-1, 1, 28, 28)
    captions = [("original" if k == 0 else f"augmented {k}") for _ in range(len(images_u8)) for k in range(views + 1)]
    return stacked, captions
