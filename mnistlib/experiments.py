"""Runs as files: each (configuration, seed, data) trains once and is stored as JSON; sweeps resume for free."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mnistlib import paths
from mnistlib.data import MnistArrays, TensorBatches
from mnistlib.io import atomic_path, read_json, write_json
from mnistlib.models import build_model, count_parameters
from mnistlib.training import EVAL_BATCH, TrainSettings, fit, seed_everything, select_device


@dataclass(frozen=True)
class RunSpec:
    """A named training configuration: the model and how it is trained (an arm of a study)."""

    name: str
    model: str = "lenet5"
    batch_norm: bool = False
    dropout: float = 0.0
    settings: TrainSettings = field(default_factory=TrainSettings)
    permutation_seed: int | None = None  # shuffle the 784 pixels of every image by one permutation fixed by this

    def describe(self) -> str:
        """The model and what is switched on, e.g. "lenet5, batch norm, augmentation"."""
        s = self.settings
        parts = [(True, self.model), (self.batch_norm, "batch norm"), (self.dropout, f"dropout {self.dropout:g}"),
                 (s.weight_decay, f"weight decay {s.weight_decay:g}"), (s.augment, "augmentation"),
                 (s.label_smoothing, f"label smoothing {s.label_smoothing:g}"),
                 (self.permutation_seed is not None, "permuted pixels")]
        return ", ".join(text for switched_on, text in parts if switched_on)

    def with_settings(self, **changes: Any) -> RunSpec:
        return replace(self, settings=replace(self.settings, **changes))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Fields added to RunSpec after runs were stored: left out of the id while at their default, so stored runs
# keep their ids (and are never trained again) when a field is added.
_LATER_FIELDS: dict[str, Any] = {"permutation_seed": None}


def run_id(spec: RunSpec, seed: int, data: MnistArrays) -> str:
    """A file name that changes whenever anything that changes the result changes."""
    described = {k: v for k, v in spec.to_dict().items() if k not in _LATER_FIELDS or v != _LATER_FIELDS[k]}
    identity = data.identity()
    key = {"spec": described, "seed": seed, "data": identity}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return f"{spec.name}-seed{seed}-{identity['dataset']}{identity['n_train']}-{digest}"


def weights_path(result_or_id: dict[str, Any] | str, results_dir: str | Path | None = None) -> Path:
    """Where a run's final weights live: results/weights/<run id>.pt (a plain state_dict of float tensors)."""
    identifier = result_or_id if isinstance(result_or_id, str) else result_or_id["id"]
    return paths.results_dir(results_dir) / "weights" / f"{identifier}.pt"


def load_weights(result: dict[str, Any], results_dir: str | Path | None = None) -> torch.nn.Module:
    """The trained model of a stored run, rebuilt from its spec; read with weights_only=True (no pickled code)."""
    spec = result["spec"]
    path = weights_path(result, results_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no stored weights for run {result['id']} (train it with keep_weights=True)")
    model = build_model(spec["model"], batch_norm=spec["batch_norm"], dropout=spec["dropout"])
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # a truncated, foreign or unsafe file: say which and why
        raise ValueError(f"{path}: cannot load weights for run {result['id']} ({exc})") from exc
    return model.eval()


def run(spec: RunSpec, seed: int, data: MnistArrays, results_dir: str | Path | None = None, *, retrain: bool = False,
        device: str | None = None, progress: str = "epoch", out: str | Path | None = None, keep_weights: bool = False,
        score_test: bool = True, resume: bool = False) -> dict[str, Any]:
    """Train one (spec, seed) on `data`, or load its stored result; the result is written atomically.

    An interrupted run leaves a checkpoint under `results/checkpoints/` and resumes from it next time.
    `keep_weights` also stores the final weights (results/weights/<run id>.pt); a stored run without them is
    trained again (CPU runs repeat exactly with the same thread count). `score_test=False` never evaluates the
    test set: the result then holds validation numbers only (what choices on the validation split read).
    `retrain` deletes an interrupted run's checkpoint too, unless `resume` (the CLI's default) continues from it.
    """
    results_dir = paths.results_dir(results_dir)
    identifier = run_id(spec, seed, data)
    path = Path(out) if out else results_dir / f"{identifier}.json"
    weights = weights_path(identifier, results_dir)
    stored = None if retrain else stored_result(path, spec, keep_weights)
    if stored is not None:
        return stored
    checkpoint = results_dir / "checkpoints" / f"{identifier}.pt"
    if retrain and not resume:
        checkpoint.unlink(missing_ok=True)
    torch_device = select_device(device)
    if spec.permutation_seed is not None:
        data = data.with_permuted_pixels(spec.permutation_seed)
    seed_everything(seed)
    model = build_model(spec.model, batch_norm=spec.batch_norm, dropout=spec.dropout)
    start = time.perf_counter()
    history = fit(model, data, spec.settings, seed=seed, device=torch_device, checkpoint=checkpoint, progress=progress,
                  score_test=score_test)
    final = history[-1]
    result = {
        "id": identifier, "name": spec.name, "description": spec.describe(), "spec": spec.to_dict(), "seed": seed,
        "data": data.info(), "parameters": count_parameters(model), "device": str(torch_device),
        "device_name": _device_name(torch_device), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "seconds": time.perf_counter() - start, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "final_test_acc": final.get("test_acc"), "final_test_loss": final.get("test_loss"), "history": history,
    }
    if "val_acc" in final:
        result["final_val_acc"] = final["val_acc"]
    if score_test:
        test_batches = TensorBatches(data.test_images, data.test_labels, batch_size=EVAL_BATCH, device=torch_device)
        predicted = predict(model, test_batches, torch_device)
        result["test_predictions"] = "".join(str(int(p)) for p in predicted.tolist())
    if keep_weights:
        with atomic_path(weights) as tmp:
            torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp)
    write_json(path, result)
    checkpoint.unlink(missing_ok=True)
    return result


@torch.inference_mode()
def predict(model: torch.nn.Module, batches: Iterable, device: torch.device | str) -> torch.Tensor:
    """The digit `model` predicts for each image of `batches`, on the CPU, in their order."""
    model.eval()
    return torch.cat([model(images.to(device)).argmax(1).cpu() for images, _ in batches])


@functools.cache
def _parameters(spec: RunSpec) -> int:
    return count_parameters(build_model(spec.model, batch_norm=spec.batch_norm, dropout=spec.dropout))


def stored_result(path: Path, spec: RunSpec, keep_weights: bool = False) -> dict[str, Any] | None:
    """The stored result at `path` if it can stand for `spec`, else None (train it).

    Not usable: missing; weights asked for but not stored; or the architecture behind the spec's model name has
    changed since (its parameter count differs, as when CustomMLP's shape was re-chosen).
    """
    if not path.exists() or (keep_weights and not weights_path(path.stem, path.parent).exists()):
        return None
    result = read_json(path)
    return result if result.get("parameters") == _parameters(spec) else None


def plan_jobs(jobs: int | str, n_runs: int, device: str | None = None, cores: int | None = None) -> tuple[int, int]:
    """(processes, torch threads per process) for `n_runs` runs: jobs x threads never exceeds the cores.

    "auto": one single-threaded process per core (a net this small gains little from intra-op threads: 6.8 s
    an epoch on 1 thread, 4.3 s on 2, on the 2-core reference machine), at most one per run, the spare cores
    shared out as threads; on a GPU one process, since the runs would share the one device.
    """
    cores = cores or os.cpu_count() or 1
    if jobs == "auto":
        on_gpu = device not in (None, "auto", "cpu") or (device in (None, "auto") and torch.cuda.is_available())
        jobs = 1 if on_gpu else max(1, min(cores, n_runs))
    try:
        jobs = int(jobs)
    except (TypeError, ValueError):
        raise ValueError(f"jobs must be a positive number or 'auto', got {jobs!r}") from None
    if jobs < 1:
        raise ValueError(f"jobs must be a positive number or 'auto', got {jobs}")
    return jobs, max(1, cores // jobs)


def _run_in_worker(spec: RunSpec, seed: int, arrays: dict[str, Any], results_dir: Path, threads: int,
                   options: dict[str, Any]) -> dict[str, Any]:
    """One run inside a joblib worker: the data arrive as (memory-mapped) NumPy arrays, threads are set first."""
    torch.set_num_threads(threads)
    data = MnistArrays.from_numpy(arrays)
    return run(spec, seed, data, results_dir, progress="none", **options)


def sweep(specs: Sequence[RunSpec], seeds: Iterable[int], data: MnistArrays, results_dir: str | Path | None = None, *,
          retrain: bool = False, device: str | None = None, jobs: int | str = 1, keep_weights: bool = False,
          score_test: bool = True, progress: str = "none", log: Callable[[str], None] | None = print,
          train_missing: bool = True) -> list[dict[str, Any]]:
    """Every spec with every seed; finished runs are loaded, not trained again, so a stopped sweep resumes.

    With jobs > 1 (or "auto") the runs still to train go to joblib's workers, each with its share of the
    cores as torch threads; every run writes only its own file. A Dask or Ray cluster takes over when the caller
    wraps the call in `joblib.parallel_config(backend="dask")` (see README). Results come back in sweep order.
    `train_missing=False` reads stored runs only: one not stored is an error (README regeneration, tests).
    """
    seeds = list(seeds)
    results_dir = paths.results_dir(results_dir)
    tasks = [(spec, seed) for spec in specs for seed in seeds]
    stored_path = {task: results_dir / f"{run_id(task[0], task[1], data)}.json" for task in tasks}

    results = {task: None if retrain else stored_result(stored_path[task], task[0], keep_weights) for task in tasks}
    todo = [task for task in tasks if results[task] is None]
    if todo and not train_missing:
        missing = ", ".join(f"{spec.name} seed {seed}" for spec, seed in todo[:5])
        raise FileNotFoundError(f"{results_dir}: {len(todo)} runs not stored ({missing}, ...); run `make report` to "
                                "train them")
    n_jobs, threads = plan_jobs(jobs, len(todo), device)
    if n_jobs == 1:
        threads = torch.get_num_threads()  # one process trains here, with this process's threads
    if log and todo:
        log(f"{len(tasks) - len(todo)} of {len(tasks)} runs stored; training {len(todo)} "
            f"in {n_jobs} process{'es' if n_jobs > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}")
    results_dir.mkdir(parents=True, exist_ok=True)
    finished = _progress(len(todo), log)
    options = {"retrain": retrain, "device": device, "keep_weights": keep_weights, "score_test": score_test}
    if n_jobs == 1:
        for spec, seed in todo:
            results[spec, seed] = finished(run(spec, seed, data, results_dir, progress=progress, **options))
    elif todo:
        from joblib import Parallel, delayed

        arrays = data.to_numpy()
        calls = (delayed(_run_in_worker)(spec, seed, arrays, results_dir, threads, options) for spec, seed in todo)
        by_id = {stored_path[task].stem: task for task in todo}
        for result in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(calls):
            results[by_id[result["id"]]] = finished(result)
        _release_local_workers(n_jobs)
    return [results[task] for task in tasks]


def _release_local_workers(n_jobs: int) -> None:
    """Stop joblib's idle worker processes once the sweep is done, rather than keeping them for reuse: in a notebook
    they would still be in the kernel's process group when Jupyter interrupts it to shut it down, and the build
    log would show "KeyboardInterrupt caught in kernel" as an ERROR. A Dask or Ray backend is left alone."""
    from joblib.externals.loky import get_reusable_executor
    from joblib.parallel import get_active_backend

    if type(get_active_backend()[0]).__name__ == "LokyBackend":
        get_reusable_executor(max_workers=n_jobs).shutdown(wait=True)


def _headline(result: dict[str, Any]) -> str:
    if result.get("final_test_acc") is not None:
        return f"test acc {result['final_test_acc']:.2%}"
    return f"val acc {result['final_val_acc']:.2%}"


def _progress(total: int, log: Callable[[str], None] | None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A sweep's `done(result)`: one line per finished run, with the time left estimated from the runs so far."""
    start, finished = time.perf_counter(), itertools.count(1)

    def done(result: dict[str, Any]) -> dict[str, Any]:
        count = next(finished)
        if log is not None:
            left = (time.perf_counter() - start) / count * (total - count)
            log(f"[{count}/{total}] {result['name']} seed {result['seed']}: {_headline(result)} "
                f"({result['seconds']:.0f}s; about {left / 60:.0f} min left)")
        return result

    return done


def load_results(results_dir: str | Path | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """Stored results, optionally only one arm's, sorted by name and seed."""
    results_dir = paths.results_dir(results_dir)
    found = [read_json(p) for p in sorted(results_dir.glob("*.json"))]
    if name is not None:
        found = [r for r in found if r["name"] == name]
    return sorted(found, key=lambda r: (r["name"], r["seed"]))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
