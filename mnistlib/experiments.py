"""The run store: each (spec, seed, data) trains once and is stored as JSON with the code it ran; sweeps resume.

A run's file name hashes its spec, seed and the data's content (`run_id`). The file records a digest of every piece
of code that determined its numbers (`mnistlib.fingerprint`): a stored run whose code changed since is stale, and a
sweep says which runs and why before it trains them again. Nothing stale is ever returned as a result.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from mnistlib import paths
from mnistlib.augment import RandomAffine
from mnistlib.data import MnistArrays, TensorBatches
from mnistlib.fingerprint import changed, code_digests
from mnistlib.io import atomic_path, read_json, write_json
from mnistlib.models import build_model, count_parameters
from mnistlib.training import EVAL_BATCH, TrainSettings, fit, seed_everything, select_device


@dataclass(frozen=True)
class RunSpec:
    """A named training configuration: the model and how it is trained (an arm of a study).

    `label` is how tables and figures name it; like `name` it is chosen by the notebook, but it is not part of the
    run's identity (renaming a label retrains nothing).
    """

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
    roots: list[Any] = [type(build_model(model, batch_norm=batch_norm, dropout=dropout)), fit, seed_everything,
                        predict]
    roots += [RandomAffine] * augment + [MnistArrays.with_permuted_pixels] * permuted
    return code_digests(roots)


def code_of(spec: RunSpec) -> dict[str, str]:
    """Digests of the code a run of `spec` goes through: its model class, the loop, batching, its augmentation."""
    return _code(spec.model, spec.batch_norm, spec.dropout, spec.settings.augment, spec.permutation_seed is not None)


def stale_reason(result: dict[str, Any], spec: RunSpec) -> str | None:
    """Why a stored run no longer stands for `spec` with today's code (None when it does)."""
    names = changed(result.get("code"), code_of(spec))
    return f"code changed: {', '.join(names)}" if names else None


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
        why = str(exc)
        if "weights_only" in why or "Weights only" in why:  # never torch's advice: weights_only=False runs its code
            name = why.partition("GLOBAL ")[2].split(maxsplit=1)
            why = f"it holds pickled objects{f' ({name[0]})' if name else ''} that could run code, refused"
        raise ValueError(f"{path}: cannot load weights for run {result['id']} ({why})") from None
    return model.eval()


def run(spec: RunSpec, seed: int, data: MnistArrays, results_dir: str | Path | None = None, *, retrain: bool = False,
        device: str | None = None, progress: str = "epoch", out: str | Path | None = None, keep_weights: bool = False,
        score_test: bool = True, resume: bool = False) -> dict[str, Any]:
    """Train one (spec, seed) on `data` with `fit` (the template's train/test loop), or load its current stored result.

    The model is built after `seed_everything(seed)`, so its initial weights repeat. An interrupted run leaves a
    checkpoint under `results/checkpoints/` and resumes from it next time. `keep_weights` also stores the final
    weights. `score_test=False` never evaluates the test set (for choices made on the validation split).
    `retrain` deletes an interrupted run's checkpoint too, unless `resume` (the CLI's default) continues from it.
    """
    results_dir = paths.results_dir(results_dir)
    identifier = run_id(spec, seed, data)
    path = Path(out) if out else results_dir / f"{identifier}.json"
    stored, _ = (None, None) if retrain else stored_result(path, spec, keep_weights)
    if stored is not None:
        return stored
    checkpoint = results_dir / "checkpoints" / f"{identifier}.pt"
    if retrain and not resume:
        checkpoint.unlink(missing_ok=True)
    torch_device = select_device(device)
    unpermuted = data
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
        "data": {**unpermuted.info(), "sha256": unpermuted.fingerprint()}, "code": code_of(spec),
        "parameters": count_parameters(model), "device": str(torch_device), "device_name": _device_name(torch_device),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "seconds": time.perf_counter() - start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "final_test_acc": final.get("test_acc"),
        "final_test_loss": final.get("test_loss"), "history": history,
    }
    if score_test:
        test_batches = TensorBatches(data.test_images, data.test_labels, batch_size=EVAL_BATCH, device=torch_device)
        predicted = predict(model, test_batches, torch_device)
        result["test_predictions"] = "".join(str(int(p)) for p in predicted.tolist())
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
    last = result["history"][-1]
    if "val_acc" not in last:
        raise ValueError(f"run {result['id']} has no validation split (val_size=0): no validation accuracy")
    return float(last["val_acc"])


def stored_result(path: Path, spec: RunSpec, keep_weights: bool = False) -> tuple[dict[str, Any] | None, str | None]:
    """(the stored result at `path`, None) if it stands for `spec` with today's code, else (None, why not)."""
    if not path.exists():
        return None, "not stored"
    if keep_weights and not weights_path(path.stem, path.parent).exists():
        return None, "weights not stored"
    result = read_json(path)
    if not isinstance(result, dict) or "history" not in result:
        raise ValueError(f"{path}: not a stored run (no history); move it out of the results folder")
    reason = stale_reason(result, spec)
    return (None, reason) if reason else (result, None)


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


def _ranges(seeds: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2, 5"."""
    groups: list[list[int]] = []
    for seed in sorted(seeds):
        if groups and seed == groups[-1][-1] + 1:
            groups[-1].append(seed)
        else:
            groups.append([seed])
    return ", ".join(f"{g[0]}-{g[-1]}" if len(g) > 1 else f"{g[0]}" for g in groups)


def _plan_lines(todo: dict[tuple[RunSpec, int], str], seconds: dict[tuple[RunSpec, int], float | None]) -> list[str]:
    """What is about to be trained and why, grouped by spec and reason: "lenet5 seeds 0-9: code changed: ..."."""
    grouped: dict[tuple[str, str], list[int]] = {}
    for (spec, seed), reason in todo.items():
        grouped.setdefault((spec.name, reason), []).append(seed)
    lines = [f"  {name} seed{'s' if len(seeds) > 1 else ''} {_ranges(seeds)}: {reason}"
             for (name, reason), seeds in grouped.items()]
    known = [s for s in seconds.values() if s]
    if known:
        lines.append(f"  about {sum(known) / 60:.0f} CPU minutes for the {len(known)} that were trained before")
    return lines


def sweep(specs: Sequence[RunSpec], seeds: Iterable[int], data: MnistArrays, results_dir: str | Path | None = None, *,
          retrain: bool = False, device: str | None = None, jobs: int | str = 1, keep_weights: bool = False,
          score_test: bool = True, progress: str = "none", log: Callable[[str], None] | None = print,
          train_missing: bool = True) -> list[dict[str, Any]]:
    """Every spec with every seed; current stored runs are loaded, missing and stale ones trained (a stopped sweep
    resumes). Before training it logs which runs and why (not stored, or which code changed) and the time it takes.

    With jobs > 1 (or "auto") the runs still to train go to joblib's workers, each with its share of the
    cores as torch threads; every run writes only its own file. A Dask or Ray cluster takes over when the caller
    wraps the call in `joblib.parallel_config(backend="dask")` (see README). Results come back in sweep order.
    `train_missing=False` reads current stored runs only: any other is an error naming it (README, tests).
    """
    seeds = list(seeds)
    results_dir = paths.results_dir(results_dir)
    tasks = [(spec, seed) for spec in specs for seed in seeds]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"two specs share a name ({', '.join(sorted({n for n in names if names.count(n) > 1}))}): "
                         "each arm needs its own name")
    stored_path = {task: results_dir / f"{run_id(task[0], task[1], data)}.json" for task in tasks}
    results: dict[tuple[RunSpec, int], dict[str, Any] | None] = {}
    todo: dict[tuple[RunSpec, int], str] = {}
    seconds: dict[tuple[RunSpec, int], float | None] = {}
    for task in tasks:
        results[task], why = (None, "retrain asked") if retrain else stored_result(stored_path[task], task[0],
                                                                                   keep_weights)
        if results[task] is None:
            todo[task] = why or "retrain asked"
            old = read_json(stored_path[task]) if stored_path[task].exists() else {}
            seconds[task] = old.get("seconds")
    if todo and not train_missing:
        raise FileNotFoundError("\n".join([f"{results_dir}: {len(todo)} of {len(tasks)} runs are not current:",
                                           *_plan_lines(todo, seconds), "run `make report` to train them"]))
    n_jobs, threads = plan_jobs(jobs, len(todo), device)
    if n_jobs == 1:
        threads = torch.get_num_threads()  # one process trains here, with this process's threads
    if log and todo:
        log("\n".join([f"{len(tasks) - len(todo)} of {len(tasks)} runs stored and current; training {len(todo)} in "
                       f"{n_jobs} process{'es' if n_jobs > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}:",
                       *_plan_lines(todo, seconds)]))
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


def _progress(total: int, log: Callable[[str], None] | None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A sweep's `done(result)`: a bar and one line per finished run, with the time left from the runs so far."""
    start, count = time.perf_counter(), [0]

    def done(result: dict[str, Any]) -> dict[str, Any]:
        count[0] += 1
        if log is not None:
            left = (time.perf_counter() - start) / count[0] * (total - count[0])
            bar = "#" * round(20 * count[0] / total)
            score = result.get("final_test_acc") or final_val_acc(result)
            log(f"[{bar:<20}] {count[0]}/{total} {result['name']} seed {result['seed']}: {score:.2%} "
                f"({result['seconds']:.0f}s; about {left / 60:.0f} min left)")
        return result

    return done


def load_results(results_dir: str | Path | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """Stored results, optionally only one arm's, sorted by name and seed (files that are not runs are skipped)."""
    results_dir = paths.results_dir(results_dir)
    found = [read_json(p) for p in sorted(results_dir.glob("*.json"))]
    found = [r for r in found if isinstance(r, dict) and "history" in r and (name is None or r.get("name") == name)]
    return sorted(found, key=lambda r: (r["name"], r["seed"]))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def log_stderr(line: str) -> None:
    """Progress for notebooks and builds: stderr, flushed at once (nothing when every run is stored)."""
    print(line, file=sys.stderr, flush=True)
