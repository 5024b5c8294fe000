"""Parallel sweeps: joblib processes (or a Dask cluster) give the runs a single process would, one file per run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mnistlib.data import MnistArrays
from mnistlib.experiments import RunSpec, plan_jobs, sweep
from mnistlib.training import TrainSettings


@pytest.fixture(scope="module")
def tiny(sample_data: MnistArrays) -> MnistArrays:
    return MnistArrays(sample_data.train_images[:800], sample_data.train_labels[:800],
                       sample_data.test_images[:200], sample_data.test_labels[:200], "sample", "")


SPECS = [RunSpec("mlp", model="mlp", settings=TrainSettings(epochs=2, val_size=100)),
         RunSpec("lenet", model="lenet5", settings=TrainSettings(epochs=1, batch_size=128))]


def _without_time(result: dict) -> dict:
    return {**result, "seconds": 0, "created": "", "history": [{**h, "seconds": 0} for h in result["history"]]}


def test_parallel_runs_equal_one_at_a_time_with_the_same_threads(tiny: MnistArrays, tmp_path: Path):
    lines: list[str] = []
    parallel = sweep(SPECS, [0, 1], tiny, tmp_path / "parallel", jobs=2, log=lines.append)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each of the two workers used
    try:
        alone = sweep(SPECS, [0, 1], tiny, tmp_path / "alone", jobs=1, log=None)
    finally:
        torch.set_num_threads(threads)
    assert [r["id"] for r in parallel] == [r["id"] for r in alone]  # sweep order, whatever finished first
    for a, b in zip(parallel, alone, strict=True):
        assert a["threads"] == b["threads"] == 1
        assert _without_time(a) == _without_time(b), a["id"]
    assert sorted(p.name for p in (tmp_path / "parallel").glob("*.json")) == sorted(
        p.name for p in (tmp_path / "alone").glob("*.json"))
    # One line per finished run after the plan, never interleaved progress bars.
    assert lines[0].splitlines() == ["0 of 4 runs stored and current; training 4 in 2 processes x 1 thread:",
                                     "  mlp seeds 0-1: not stored", "  lenet seeds 0-1: not stored"]
    assert len(lines) == 5 and all(f"] {k}/4 " in line for k, line in enumerate(lines[1:], start=1))


def test_a_finished_parallel_sweep_is_loaded_not_trained(tiny: MnistArrays, tmp_path: Path, monkeypatch):
    first = sweep(SPECS, [0], tiny, tmp_path, jobs=2, log=None)
    import mnistlib.experiments as experiments

    for trainer in ("run", "_run_in_worker"):  # not `fit`: replacing it changes the code the runs record
        monkeypatch.setattr(experiments, trainer, lambda *a, **k: pytest.fail("a stored run was trained again"))
    assert sweep(SPECS, [0], tiny, tmp_path, jobs="auto", log=None) == first
    assert sweep(SPECS, [0], tiny, tmp_path, log=None, train_missing=False) == first
    with pytest.raises(FileNotFoundError, match=r"1 of 2 runs are not current:\n  mlp seed 1: not stored"):
        sweep(SPECS[:1], [0, 1], tiny, tmp_path, log=None, train_missing=False)  # never trains what is missing


def test_plan_jobs_fits_jobs_times_threads_into_the_cores():
    assert plan_jobs("auto", n_runs=80, device="cpu", cores=2) == (2, 1)
    assert plan_jobs("auto", n_runs=3, device="cpu", cores=8) == (3, 2)  # spare cores become threads
    assert plan_jobs("auto", n_runs=80, device="cpu", cores=16) == (16, 1)
    assert plan_jobs(4, n_runs=80, device="cpu", cores=16) == (4, 4)
    assert plan_jobs("auto", n_runs=80, device="cuda", cores=16) == (1, 16)  # one GPU: one process
    for bad in (0, -2, "many"):
        with pytest.raises(ValueError, match="jobs must be"):
            plan_jobs(bad, n_runs=4, cores=2)


def test_sweep_runs_on_a_dask_cluster_through_joblib(tiny: MnistArrays, tmp_path: Path):
    distributed = pytest.importorskip("distributed")
    import joblib

    # Worker processes, as on a real cluster: runs seed torch's global generator, so two runs must never share a
    # process at the same time (Dask's thread-based workers would interleave them).
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            distributed.Client(c), joblib.parallel_config(backend="dask"):
        on_cluster = sweep(SPECS[:1], [0, 1], tiny, tmp_path / "dask", jobs=2, log=None)
    local = sweep(SPECS[:1], [0, 1], tiny, tmp_path / "local", jobs=2, log=None)
    assert [_without_time(r) for r in on_cluster] == [_without_time(r) for r in local]


def _worker_pids() -> set[int]:
    """joblib (loky) worker processes whose parent is this one, from Linux /proc; the resource trackers, one per
    process and idle, are not workers."""
    workers = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat, command = (entry / "stat").read_text(), (entry / "cmdline").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and "LokyProcess" in command:
                workers.add(int(entry.name))
    return workers


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_parallel_sweep_leaves_no_worker_process_behind(tiny: MnistArrays, tmp_path: Path):
    """Idle joblib workers left alive get Jupyter's shutdown interrupt and print an ERROR in the build log."""
    sweep(SPECS[:1], [0, 1], tiny, tmp_path, jobs=2, log=None)
    assert _worker_pids() == set()
