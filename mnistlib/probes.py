"""Probes of stored models (notebook 6, nothing retrains): accuracy on shifted and rotated test digits, cached in
results/why_cnn/robustness.json by run, its code and the probe's definition, and what C1/C3 compute."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.transforms.functional import InterpolationMode, rotate

from mnistfiles.io import read_json, write_json
from mnistlib import paths
from mnistlib.data import MnistArrays
from mnistlib.data.batches import normalise
from mnistlib.experiments import code_tag, load_weights

SHIFTS = tuple(range(0, 7))  # pixels, each of the four directions
ANGLES = tuple(range(-30, 31, 5))  # degrees, counter-clockwise positive
DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))
PROBE_VERSION = {"shifts": SHIFTS, "angles": ANGLES, "directions": DIRECTIONS, "interpolation": "bilinear"}


def shift(images_u8: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Digits moved dx pixels right and dy down; what leaves the frame is lost, what enters is background."""
    return nn.functional.pad(images_u8, (dx, -dx, dy, -dy))  # a negative pad crops that side


def turn(images_u8: torch.Tensor, degrees: float) -> torch.Tensor:
    """Digits rotated about the image centre (bilinear, background fill)."""
    return images_u8 if degrees == 0 else rotate(images_u8.unsqueeze(1), float(degrees), InterpolationMode.BILINEAR,
                                                 fill=0).squeeze(1)


@torch.inference_mode()
def accuracy(model: nn.Module, images_u8: torch.Tensor, labels: torch.Tensor, batch: int = 2000) -> float:
    """Top-1 accuracy of `model` on uint8 digits, normalised as in training (`normalise`)."""
    model.eval()
    return sum(int((model(normalise(images_u8[i:i + batch])).argmax(1) == labels[i:i + batch]).sum())
               for i in range(0, len(labels), batch)) / len(labels)


def probe_run(model: nn.Module, data: MnistArrays) -> dict[str, list[float]]:
    """One model's accuracy per shift (mean of the four directions) and per rotation angle."""
    images, labels = data.test_images, data.test_labels
    by_shift = [accuracy(model, images, labels) if k == 0 else
                float(np.mean([accuracy(model, shift(images, k * dx, k * dy), labels) for dx, dy in DIRECTIONS]))
                for k in SHIFTS]
    return {"shift": by_shift, "angle": [accuracy(model, turn(images, angle), labels) for angle in ANGLES]}


def probe_key(run: dict[str, Any]) -> str:
    """A run's id and the code it ran: a run retrained after a code change keeps its id but not its weights."""
    return f"{run['id']}@{code_tag(run['code'])}"


def robustness(runs: dict[str, list[dict[str, Any]]], data: MnistArrays,
               results_dir: str | Path | None = None) -> dict[str, Any]:
    """Per model name, a seeds x points array of accuracies under each shift and each rotation (probed once, cached)."""
    cache_path = paths.results_dir(results_dir) / "why_cnn" / "robustness.json"
    version = hashlib.sha256(json.dumps(PROBE_VERSION, sort_keys=True).encode()).hexdigest()[:10]
    cache = read_json(cache_path) if cache_path.exists() else {}
    if cache.get("probe") != version:
        cache = {"probe": version, "definition": PROBE_VERSION, "runs": {}}
    missing = {probe_key(run): run for model_runs in runs.values() for run in model_runs
               if probe_key(run) not in cache["runs"]}
    cache["runs"].update({key: probe_run(load_weights(run, results_dir), data) for key, run in missing.items()})
    if missing:
        write_json(cache_path, cache)
    return {"shifts": list(SHIFTS), "angles": list(ANGLES), **{
        name: {axis: np.array([cache["runs"][probe_key(r)][axis] for r in model_runs]) for axis in ("shift", "angle")}
        for name, model_runs in runs.items()}}


@torch.inference_mode()
def feature_maps(model: nn.Module, images_u8: torch.Tensor) -> dict[str, torch.Tensor]:
    """LeNet-5's C1 and C3 activations (after ReLU) for a few digits: {"c1": [N,6,28,28], "c3": [N,16,10,10]}."""
    model.eval()
    c1 = model.relu(model.c1(normalise(images_u8)))
    return {"c1": c1, "c3": model.relu(model.c3(model.s2(c1)))}
