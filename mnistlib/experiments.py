"""The run store: each (spec, seed, data) trains once, stored as JSON with digests of its code; sweeps resume."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import groupby, product
from pathlib import Path
from typing import Any, NoReturn

import torch

from mnistfiles.io import atomic_path, read_json, unloadable, write_json
from mnistlib import paths
from mnistlib.augment import RandomAffine
from mnistlib.data import MnistArrays, TensorBatches
from mnistlib.fingerprint import changed, code_digests
from mnistlib.models import build_model, count_parameters
from mnistlib.training import EVAL_BATCH, TrainSettings, fit, seed_everything, select_device


@dataclass(frozen=True)
class RunSpec:
    """A named training configuration (an arm of a study); `label` names it in tables, outside its identity."""

    name: str
    model: str = "lenet5"
    batch_norm: bool = False
    dropout: float = 0.0
    settings: TrainSettings = field(default_factory=TrainSettings)
    permutation_seed: int | None = None  # shuffle the 784 pixels of every image by one permutation fixed by this
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name

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

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> RunSpec:
        return cls(**{**spec, "settings": TrainSettings(**spec["settings"])})


# Fields left out of the id while at their default (added after runs were stored), and fields never in it.
_LATER_FIELDS: dict[str, Any] = {"permutation_seed": None}
_NOT_IDENTITY = ("label",)


def run_id(spec: RunSpec, seed: int, data: MnistArrays) -> str:
    """A file name that changes whenever the spec, the seed or the data (their content, in order) change."""
    described = {k: v for k, v in spec.to_dict().items()
                 if k not in _NOT_IDENTITY and (k not in _LATER_FIELDS or v != _LATER_FIELDS[k])}
    identity = data.identity()
    key = {"spec": described, "seed": seed, "data": identity}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return f"{spec.name}-seed{seed}-{identity['dataset']}{identity['n_train']}-{digest}"


@functools.cache
def _code(model: str, batch_norm: bool, dropout: float, augment: bool, permuted: bool) -> dict[str, str]:
    roots: list[Any] = [type(build_model(model, batch_norm=batch_norm, dropout=dropout)), fit, seed_everything, predict]
    roots += [RandomAffine] * augment + [MnistArrays.with_permuted_pixels] * permuted
    return code_digests(roots)


def code_of(spec: RunSpec) -> dict[str, str]:
    """Digests of the code a run of `spec` goes through: its model class, the loop, batching, its augmentation."""
    return _code(spec.model, spec.batch_norm, spec.dropout, spec.settings.augment, spec.permutation_seed is not None)


def code_tag(code: dict[str, str]) -> str:
    """Eight hex digits standing for a run's whole code record: in checkpoint names and the probe cache's keys."""
    return hashlib.sha256(json.dumps(code, sort_keys=True).encode()).hexdigest()[:8]


def stale_reason(result: dict[str, Any], spec: RunSpec) -> str | None:
    """Why a stored run no longer stands for `spec` with today's code (None when it does)."""
    names = changed(result.get("code"), code_of(spec))
    return f"code changed: {', '.join(names)}" if names else None


_FIELDS = {"id": str, "name": str, "seed": int, "spec": dict, "history": list, "parameters": int,
           "seconds": int | float, "code": dict | None, "data": dict | None, "created": str | None,
           "final_test_acc": int | float | None, "test_predictions": str | None}  # checked whenever a run is read


def checked_run(result: Any, path: Path, n_test: int | None = None) -> dict[str, Any]:
    """`result`, read from `path`, if a well-formed run (scored on `n_test` images if given), else a ValueError."""
    def refuse(why: str) -> NoReturn:
        raise ValueError(f"{paths.shown(path)}: {why}; move it out of {paths.shown(path.parent)} or delete it")
    if not isinstance(result, dict) or "history" not in result:
        refuse("not a stored run (no history)")
    for key, kind in _FIELDS.items():
        if isinstance(result.get(key), bool) or not isinstance(result.get(key), kind):
            refuse(f"{key} is {json.dumps(result.get(key))[:40]}, {getattr(kind, '__name__', kind)} expected")
    history, accuracy, predicted = result["history"], result.get("final_test_acc"), result.get("test_predictions")
    if not history or not all(isinstance(h, dict) and {type(v) for v in h.values()} <= {int, float} for h in history):
        refuse("history is not a list of epoch records of numbers")
    if not isinstance(result["spec"].get("model"), str):
        refuse("spec names no model")
    if n_test or predicted is not None or accuracy is not None:  # scored on the test set: both, consistent
        expected = n_test or (result.get("data") or {}).get("n_test") or len(predicted or "")
        if accuracy is None or not 0 <= accuracy <= 1:
            refuse(f"final_test_acc is {json.dumps(accuracy)}, an accuracy from 0 to 1 expected")
        if predicted is None or not (predicted.isascii() and predicted.isdigit()) or len(predicted) != expected:
            refuse(f"test_predictions has {len(predicted or '')} characters, {expected} digits expected")
    return result


def weights_path(result_or_id: dict[str, Any] | str, results_dir: str | Path | None = None) -> Path:
    """Where a run's final weights live: results/weights/<run id>.pt (a plain state_dict of float tensors)."""
    identifier = result_or_id if isinstance(result_or_id, str) else result_or_id["id"]
    return paths.results_dir(results_dir) / "weights" / f"{identifier}.pt"


def load_weights(result: dict[str, Any], results_dir: str | Path | None = None,
                 build: Callable[[dict[str, torch.Tensor]], torch.nn.Module] | None = None) -> torch.nn.Module:
    """A stored run's model, built from its spec (or `build(state)`); weights_only=True: no pickled code is run."""
    spec, path = result["spec"], weights_path(result, results_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no stored weights for run {result['id']} (train it with keep_weights=True)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = build(state) if build else build_model(spec["model"], spec["batch_norm"], spec["dropout"])
        model.load_state_dict(state)
    except Exception as exc:  # never torch's advice: weights_only=False would run the file's code
        raise ValueError(f"{path}: cannot load weights for run {result['id']} ({unloadable(exc)})") from None
    return model.eval()


def run(spec: RunSpec, seed: int, data: MnistArrays, results_dir: str | Path | None = None, *, retrain: bool = False,
        device: str | None = None, progress: str = "epoch", out: str | Path | None = None, keep_weights: bool = False,
        score_test: bool = True, resume: bool = False) -> dict[str, Any]:
    """Load the current stored run, or seed everything, then build the model (so its initial weights repeat: `fit`
    does not seed them), train it with `fit` (resuming from results/checkpoints/) and store it."""
    results_dir = paths.results_dir(results_dir)
    identifier = run_id(spec, seed, data)
    path = Path(out) if out else results_dir / f"{identifier}.json"
    n_test = len(data.test_labels) if score_test else None
    if not retrain and (stored := stored_result(path, spec, keep_weights, n_test)[0]) is not None:
        return stored
    checkpoint = results_dir / "checkpoints" / f"{identifier}-{code_tag(code_of(spec))}.pt"  # a code change starts over
    if retrain and not resume:
        checkpoint.unlink(missing_ok=True)
    torch_device = select_device(device)
    trained_on = data if spec.permutation_seed is None else data.with_permuted_pixels(spec.permutation_seed)
    seed_everything(seed)
    model = build_model(spec.model, batch_norm=spec.batch_norm, dropout=spec.dropout)
    start = time.perf_counter()
    history = fit(model, trained_on, spec.settings, seed=seed, device=torch_device, checkpoint=checkpoint,
                  progress=progress, score_test=score_test)
    result = {
        "id": identifier, "name": spec.name, "description": spec.describe(), "spec": spec.to_dict(), "seed": seed,
        "data": {**data.info(), "sha256": data.fingerprint()}, "code": code_of(spec),
        "parameters": count_parameters(model), "device": str(torch_device),
        "device_name": torch.cuda.get_device_name(torch_device) if torch_device.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "seconds": time.perf_counter() - start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "final_test_acc": history[-1].get("test_acc"),
        "final_test_loss": history[-1].get("test_loss"), "history": history,
    }
    if score_test:
        batches = TensorBatches(trained_on.test_images, trained_on.test_labels, EVAL_BATCH, device=torch_device)
        result["test_predictions"] = "".join(str(int(p)) for p in predict(model, batches, torch_device).tolist())
    if keep_weights:
        with atomic_path(weights_path(identifier, results_dir)) as tmp:
            torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp)
    write_json(path, result)
    checkpoint.unlink(missing_ok=True)
    return result


@torch.inference_mode()
def predict(model: torch.nn.Module, batches: Iterable, device: torch.device | str) -> torch.Tensor:
    """The digit `model` predicts for each image of `batches`, on the CPU, in their order."""
    model.eval()
    return torch.cat([model(images.to(device)).argmax(1).cpu() for images, _ in batches])


def final_val_acc(result: dict[str, Any]) -> float:
    """A run's validation accuracy after its last epoch, read from its history (every run with a split has it)."""
    if "val_acc" not in (last := result["history"][-1]):
        raise ValueError(f"run {result['id']} has no validation split (val_size=0): no validation accuracy")
    return float(last["val_acc"])


def stored_result(path: Path, spec: RunSpec, keep_weights: bool = False,
                  n_test: int | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """(the run at `path`, None) if current for `spec`, else (None, why not); a ValueError if not a run."""
    result, why = _stored(path, spec, keep_weights, n_test)
    return (None, why) if why else (result, None)


def _stored(path: Path, spec: RunSpec, keep_weights: bool, n_test: int | None
            ) -> tuple[dict[str, Any] | None, str | None]:
    """The run at `path` as read and checked (None when not read) and why it is not current (None when it is)."""
    if not path.exists() or keep_weights and not weights_path(path.stem, path.parent).exists():
        return None, "weights not stored" if path.exists() else "not stored"
    result = checked_run(read_json(path), path, n_test)
    return result, stale_reason(result, spec)


def plan_jobs(jobs: int | str, n_runs: int, device: str | None = None, cores: int | None = None) -> tuple[int, int]:
    """(processes, threads each) within the cores; "auto": a process per core and run (one on a GPU), spare threads."""
    cores = cores or os.cpu_count() or 1
    if jobs == "auto":
        on_gpu = device not in (None, "auto", "cpu") or (device in (None, "auto") and torch.cuda.is_available())
        jobs = 1 if on_gpu else max(1, min(cores, n_runs))
    if not str(jobs).strip().isdigit() or int(jobs) < 1:
        raise ValueError(f"jobs must be a positive number or 'auto', got {jobs!r}")
    return int(jobs), max(1, cores // int(jobs))


def _run_in_worker(spec: RunSpec, seed: int, arrays: dict[str, Any], results_dir: Path, threads: int,
                   options: dict[str, Any], parent: int) -> dict[str, Any]:
    """One run in a joblib worker; a local one dies with the sweep's process (`parent`), else it trains on."""
    if parent and sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    torch.set_num_threads(threads)
    return run(spec, seed, MnistArrays.from_numpy(arrays), results_dir, progress="none", **options)


def _plan(header: str, todo: dict[tuple[RunSpec, int], tuple[str, float | None]], *after: str) -> str:
    """What is about to be trained and why, grouped by spec and reason: "lenet5 seeds 0-2, 5: code changed: ..."."""
    grouped: dict[tuple[str, str], list[int]] = {}
    for (spec, seed), (reason, _) in todo.items():
        grouped.setdefault((spec.name, reason), []).append(seed)
    lines = [header]
    for (name, reason), seeds in grouped.items():
        runs = [[s for _, s in g] for _, g in groupby(enumerate(sorted(seeds)), lambda pair: pair[1] - pair[0])]
        ranges = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)
        lines.append(f"  {name} seed{'s' if len(seeds) > 1 else ''} {ranges}: {reason}")
    if known := [s for _, s in todo.values() if s]:
        lines.append(f"  about {sum(known) / 60:.0f} CPU minutes for the {len(known)} that were trained before")
    return "\n".join([*lines, *after])


def sweep(specs: Sequence[RunSpec], seeds: Iterable[int], data: MnistArrays, results_dir: str | Path | None = None, *,
          retrain: bool = False, device: str | None = None, jobs: int | str = 1, keep_weights: bool = False,
          score_test: bool = True, progress: str = "none", log: Callable[[str], None] | None = print,
          train_missing: bool = True) -> list[dict[str, Any]]:
    """Every spec with every seed, in order: stored current runs loaded, the others trained after saying why (an error
    if not `train_missing`), in joblib processes if jobs > 1 (a Dask cluster inside `parallel_config("dask")`)."""
    names = [spec.name for spec in specs]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"two specs share a name ({', '.join(twice)}): each arm needs its own name")
    results_dir, tasks = paths.results_dir(results_dir), list(product(specs, seeds))
    stored_path = {task: results_dir / f"{run_id(*task, data)}.json" for task in tasks}
    n_test = len(data.test_labels) if score_test else None
    results: dict[tuple[RunSpec, int], dict[str, Any]] = {}
    todo: dict[tuple[RunSpec, int], tuple[str, float | None]] = {}  # why it trains, and how long it took before
    for task, path in stored_path.items():
        found, why = (None, "retrain asked") if retrain else _stored(path, task[0], keep_weights, n_test)
        if why is None:
            results[task] = found
        else:  # a stale run was read already; only "retrain asked" and missing weights read it here
            old = found if found is not None else read_json(path) if path.exists() else None
            todo[task] = why, old.get("seconds") if isinstance(old, dict) else None
    if todo and not train_missing:
        raise FileNotFoundError(_plan(f"{results_dir}: {len(todo)} of {len(tasks)} runs are not current:", todo,
                                      "run `make report` to train them"))
    n_jobs, threads = plan_jobs(jobs, len(todo), device)
    threads = threads if n_jobs > 1 else torch.get_num_threads()  # one process trains here, with its own threads
    if log and todo:
        log(_plan(f"{len(tasks) - len(todo)} of {len(tasks)} runs stored and current; training {len(todo)} in {n_jobs} "
                  f"process{'es' if n_jobs > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}:", todo))
    # Each run trains without judging its stored file again (done above); its checkpoint is kept unless retraining.
    options = {"retrain": True, "resume": not retrain, "device": device, "keep_weights": keep_weights,
               "score_test": score_test}
    parent = 0
    if n_jobs == 1 or not todo:
        finished = (run(spec, seed, data, results_dir, progress=progress, **options) for spec, seed in todo)
    else:
        from joblib import Parallel, delayed
        from joblib.externals.loky import get_reusable_executor
        from joblib.parallel import get_active_backend

        arrays = data.to_numpy()
        parent = os.getpid() if type(get_active_backend()[0]).__name__ == "LokyBackend" else 0  # not Dask or Ray
        finished = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_run_in_worker)(spec, seed, arrays, results_dir, threads, options, parent) for spec, seed in todo)
    by_id, start = {stored_path[task].stem: task for task in todo}, time.perf_counter()
    for count, result in enumerate(finished, 1):  # a bar and one line per run, with the time left
        results[by_id[result["id"]]] = result
        if log:
            left = (time.perf_counter() - start) / count * (len(todo) - count)
            score = result.get("final_test_acc") or final_val_acc(result)
            log(f"[{'#' * round(20 * count / len(todo)):<20}] {count}/{len(todo)} {result['name']} seed "
                f"{result['seed']}: {score:.2%} ({result['seconds']:.0f}s; about {left / 60:.0f} min left)")
    if parent:  # idle workers stopped: in a notebook, Jupyter's shutdown would interrupt them (an ERROR logged)
        get_reusable_executor(max_workers=n_jobs).shutdown(wait=True)
    return [results[task] for task in tasks]
