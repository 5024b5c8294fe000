"""Runs as files: each (configuration, seed, data) trains once and is stored as JSON; sweeps resume for free."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mnistlib.data import MnistArrays, TensorBatches, default_data_dir
from mnistlib.io import read_json, write_json
from mnistlib.models import build_model, count_parameters
from mnistlib.training import (
    EVAL_BATCH,
    TrainSettings,
    data_identity,
    fit,
    predict,
    seed_everything,
    select_device,
)


@dataclass(frozen=True)
class RunSpec:
    """A named training configuration: the model and how it is trained (an arm of a study)."""

    name: str
    model: str = "lenet5"
    batch_norm: bool = False
    dropout: float = 0.0
    settings: TrainSettings = field(default_factory=TrainSettings)

    def describe(self) -> str:
        parts = [self.model]
        if self.batch_norm:
            parts.append("batch norm")
        if self.dropout:
            parts.append(f"dropout {self.dropout:g}")
        s = self.settings
        if s.weight_decay:
            parts.append(f"weight decay {s.weight_decay:g}")
        if s.augment:
            parts.append("augmentation")
        if s.label_smoothing:
            parts.append(f"label smoothing {s.label_smoothing:g}")
        return ", ".join(parts)

    def with_settings(self, **changes: Any) -> RunSpec:
        return replace(self, settings=replace(self.settings, **changes))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_results_dir() -> Path:
    """`results/` beside `data/` (the repository root when run from a checkout)."""
    return default_data_dir().parent / "results"


def run_id(spec: RunSpec, seed: int, data: MnistArrays) -> str:
    """A file name that changes whenever anything that changes the result changes."""
    key = {"spec": spec.to_dict(), "seed": seed, "data": data_identity(data)}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    identity = data_identity(data)
    return f"{spec.name}-seed{seed}-{identity['dataset']}{identity['n_train']}-{digest}"


def run(
    spec: RunSpec,
    seed: int,
    data: MnistArrays,
    results_dir: str | Path | None = None,
    *,
    retrain: bool = False,
    device: str | None = None,
    progress: str = "epoch",
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Train one (spec, seed) on `data`, or load its stored result; the result is written atomically.

    An interrupted run leaves a checkpoint under `results/checkpoints/` and resumes from it next time.
    """
    results_dir = Path(results_dir) if results_dir else default_results_dir()
    identifier = run_id(spec, seed, data)
    path = Path(out) if out else results_dir / f"{identifier}.json"
    if path.exists() and not retrain:
        return read_json(path)
    checkpoint = results_dir / "checkpoints" / f"{identifier}.pt"
    if retrain:
        checkpoint.unlink(missing_ok=True)
    torch_device = select_device(device)
    seed_everything(seed)
    model = build_model(spec.model, batch_norm=spec.batch_norm, dropout=spec.dropout)
    start = time.perf_counter()
    history = fit(model, data, spec.settings, seed=seed, device=torch_device, checkpoint=checkpoint, progress=progress)
    seconds = time.perf_counter() - start
    test_batches = TensorBatches(data.test_images, data.test_labels, batch_size=EVAL_BATCH, device=torch_device)
    predicted, _ = predict(model, test_batches, torch_device)
    final = history.final
    result = {
        "id": identifier,
        "name": spec.name,
        "description": spec.describe(),
        "spec": spec.to_dict(),
        "seed": seed,
        "data": data.info(),
        "parameters": count_parameters(model),
        "device": str(torch_device),
        "device_name": _device_name(torch_device),
        "torch": torch.__version__,
        "seconds": seconds,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "final_test_acc": final["test_acc"],
        "final_test_loss": final["test_loss"],
        "history": history.epochs,
        "test_predictions": "".join(str(int(p)) for p in predicted.tolist()),
    }
    write_json(path, result)
    checkpoint.unlink(missing_ok=True)
    return result


def sweep(
    specs: Sequence[RunSpec],
    seeds: Iterable[int],
    data: MnistArrays,
    results_dir: str | Path | None = None,
    *,
    retrain: bool = False,
    device: str | None = None,
    progress: str = "none",
    log=print,
) -> list[dict[str, Any]]:
    """Every spec with every seed; finished runs are loaded, not trained again, so a stopped sweep resumes."""
    seeds = list(seeds)
    results = []
    total = len(specs) * len(seeds)
    for i, (spec, seed) in enumerate(((s, seed) for s in specs for seed in seeds), start=1):
        results_path = Path(results_dir) if results_dir else default_results_dir()
        cached = (results_path / f"{run_id(spec, seed, data)}.json").exists() and not retrain
        result = run(spec, seed, data, results_dir, retrain=retrain, device=device, progress=progress)
        results.append(result)
        if log:
            status = "stored" if cached else f"trained in {result['seconds']:.0f}s"
            log(f"[{i}/{total}] {spec.name} seed {seed}: test acc {result['final_test_acc']:.2%} ({status})")
    return results


def load_results(results_dir: str | Path | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """Stored results, optionally only one arm's, sorted by name and seed."""
    results_dir = Path(results_dir) if results_dir else default_results_dir()
    found = [read_json(p) for p in sorted(results_dir.glob("*.json"))]
    if name is not None:
        found = [r for r in found if r["name"] == name]
    return sorted(found, key=lambda r: (r["name"], r["seed"]))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
