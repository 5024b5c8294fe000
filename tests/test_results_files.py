"""Hostile and broken files around the run store (issue 23): wrong-shaped run files, a killed parallel sweep, a missing
mirror, a malicious weights file. Each ends in one line naming the file and the problem: no traceback, no hang."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from conftest import ARMS, N_TEST, REPO, RunsCode, one_error_line

from mnistfiles.io import write_json
from mnistlib import paths, study
from mnistlib.experiments import RunSpec, run, run_id, stored_result, weights_path
from mnistlib.models import CustomMLP, LeNet5
from mnistreport import demo
from mnistreport.demo import load_results

SEEDS = range(4)


# ------------------------------------------------------------------------------- wrong-shaped files in results/
@pytest.fixture()
def recorded(planted):
    """`planted`'s runs recorded as an experiment, as notebook 3 records the runs later notebooks load."""
    data, results = planted
    study.train("arms", ARMS, SEEDS, data, results, log=None)  # all stored and current: nothing trains
    return data, results, results / f"{run_id(ARMS[0], 0, data)}.json"


@pytest.mark.parametrize(("changes", "field"), [
    ({"final_test_acc": None}, "final_test_acc"),
    ({"final_test_acc": "0.99"}, "final_test_acc"),  # a string used as a number
    ({"final_test_acc": 99.1}, "final_test_acc"),
    ({"test_predictions": "0123"}, "test_predictions"),  # shorter than the test set
    ({"test_predictions": "x" * N_TEST}, "test_predictions"),
    ({"test_predictions": ...}, "test_predictions"),  # missing
    ({"seed": "0"}, "seed"),
    ({"seconds": True}, "seconds"),
    ({"name": ...}, "name"),
    ({"spec": ["lenet5"]}, "spec"),
    ({"code": "abc"}, "code"),
    ({"history": []}, "history"),
    ({"history": [{"epoch": 1, "val_acc": "0.99"}]}, "history"),
])
def test_a_malformed_run_is_refused_naming_its_file_and_field(recorded, changes, field):
    """Before: numpy's or a KeyError's message from deep in the study code, naming no file."""
    data, results, path = recorded
    stored = {**json.loads(path.read_text()), "data": {"full": False, "n_train": 200, "n_test": N_TEST}}
    write_json(path, {k: v for k, v in {**stored, **changes}.items() if v is not ...})
    expected = rf"^{re.escape(paths.shown(path))}: {field} [^\n]*; move it out of [^\n]* or delete it$"
    for read in (lambda: study.load("arms", data, results),  # notebooks 4-7: sweep(..., train_missing=False)
                 lambda: stored_result(path, ARMS[0], n_test=N_TEST),
                 lambda: load_results(results)):
        with pytest.raises(ValueError, match=expected):
            read()


def test_a_file_that_is_no_run_is_refused_where_a_run_belongs_and_skipped_in_a_listing(recorded):
    """A JSON list in place of a run, and a stray notes.json: refused by name, or skipped with a warning."""
    data, results, path = recorded
    notes = results / "notes.json"
    write_json(notes, {"todo": "ask about dropout"})
    skipped = rf"^{re.escape(paths.shown(notes))}: not a stored run \(no history\), skipped$"
    with pytest.warns(UserWarning, match=skipped):
        assert len(load_results(results)) == len(ARMS) * len(SEEDS)
    write_json(path, [])
    for read in (lambda: study.load("arms", data, results), lambda: stored_result(path, ARMS[0])):
        with pytest.raises(ValueError, match=rf"^{re.escape(paths.shown(path))}: not a stored run \(no history\)"):
            read()
    with pytest.warns(UserWarning) as caught:
        assert len(load_results(results)) == len(ARMS) * len(SEEDS) - 1
    assert sorted(Path(str(w.message).split(":")[0]).name for w in caught) == sorted([path.name, notes.name])


def test_a_run_not_scored_on_test_is_refused_where_scores_are_needed(recorded):
    """A validation-only run (score_test=False) stands as it is, but not where the test set is scored."""
    data, results, path = recorded
    stored = json.loads(path.read_text())
    stored.pop("test_predictions")
    write_json(path, {**stored, "final_test_acc": None})
    assert stored_result(path, ARMS[0])[0]["id"] == stored["id"]
    with pytest.raises(ValueError, match="final_test_acc is null, an accuracy from 0 to 1 expected"):
        stored_result(path, ARMS[0], n_test=N_TEST)


def test_every_committed_run_passes_the_check():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for folder in (paths.RESULTS_DIR, paths.RESULTS_DIR / "tuning" / "runs"):
            assert load_results(folder) or not folder.exists()


# ------------------------------------------------------------------------------- what seeds a run's initial weights
def test_run_seeds_before_building_the_model_and_fit_alone_does_not(sample_data, tmp_path: Path):
    """README said `fit` seeds everything; it seeds the data order, but the model is built before it is called."""
    from mnistlib.data import MnistArrays
    from mnistlib.training import TrainSettings, fit

    tiny = MnistArrays(sample_data.train_images[:256], sample_data.train_labels[:256], sample_data.test_images[:64],
                       sample_data.test_labels[:64], "sample", "")
    spec = RunSpec("mlp", model="mlp", settings=TrainSettings(epochs=1, val_size=0))
    runs, alone = [], []
    for before in (1, 2):  # whatever random numbers a notebook drew before
        torch.manual_seed(before)
        runs.append(run(spec, 0, tiny, tmp_path, retrain=True, progress="none")["history"][-1]["train_loss"])
        torch.manual_seed(before)
        alone.append(fit(CustomMLP(), tiny, spec.settings, seed=0, progress="none", log=None)[-1]["train_loss"])
    assert runs[0] == runs[1] and alone[0] != alone[1]  # fit(seed=0) twice: two initial weights, two results
    assert "seed everything, then build the model" in " ".join(run.__doc__.split())


# ------------------------------------------------------------------------------- SIGTERM on a parallel sweep
SWEEP = """
import sys
from mnistlib.data import MnistArrays, load_sample
from mnistlib.experiments import RunSpec, sweep
from mnistlib.training import TrainSettings

d = load_sample()
tiny = MnistArrays(d.train_images[:256], d.train_labels[:256], d.test_images[:64], d.test_labels[:64], "sample", "")
spec = RunSpec("mlp", model="mlp", settings=TrainSettings(epochs=100_000, val_size=0))
sweep([spec], [0, 1], tiny, sys.argv[1], jobs=2, log=lambda line: print(line, flush=True))
"""


def _descendants(pid: int) -> set[int]:
    children: dict[int, set[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), set()).add(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), set()) - found:
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sigterm_ends_a_parallel_sweep_its_workers_and_trackers_and_releases_the_pipe(tmp_path: Path):
    """Before: a loky worker and two resource trackers lived on for over 10 minutes, holding the pipe (| tee)."""
    proc = subprocess.Popen([sys.executable, "-c", SWEEP, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(list((tmp_path / "checkpoints").glob("*.pt"))) < 2:  # both workers finished an epoch
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.2)
        started = _descendants(proc.pid)
        assert len(started) >= 2, started
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)  # returns once every holder of the pipe is gone
        assert proc.returncode != 0
        assert "training 2 in 2 processes" in output
        deadline = time.monotonic() + 5
        while any(map(_alive, started)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in started if _alive(pid)]
    finally:
        for pid in [*_descendants(proc.pid), *started]:  # what this test started, if anything was left
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------------------- the build on bad data
def test_the_build_with_a_missing_mirror_says_so_in_one_line(tmp_path: Path):
    """Before: a DataError traceback. A relative mirror path is the caller's (the notebooks run in notebooks/)."""
    (tmp_path / "data").mkdir()
    env = {**os.environ, "MNIST_MIRROR": "my mirror", "MNISTLIB_DATA": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "mnistreport", "build"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert one_error_line(done.stderr) == f"error: {tmp_path / 'my mirror'}: MNIST mirror folder does not exist"


SLEEPING_NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    {"cell_type": "code", "id": "sleep", "metadata": {}, "outputs": [], "execution_count": None,
     "source": "import sys, time\nprint('started', file=sys.stderr, flush=True)\ntime.sleep(120)"}]}
EXECUTE = """
import sys
from pathlib import Path
from mnistreport.build import NotebookExecutionError, execute_notebook
try:
    execute_notebook(Path(sys.argv[1]), Path(sys.argv[2]), log=lambda line: print(line, flush=True))
except NotebookExecutionError as exc:
    sys.exit(f"error: {exc}")
"""


def test_sigterm_while_a_notebook_runs_ends_the_build_in_one_line(tmp_path: Path):
    """Before: nbclient shut the kernel down on SIGTERM, then failed an assert: an AssertionError traceback."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "mnistlib" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("no mnistlib kernel (make setup installs it)")
    write_json(tmp_path / "sleep.ipynb", SLEEPING_NOTEBOOK)
    proc = subprocess.Popen([sys.executable, "-c", EXECUTE, str(tmp_path / "sleep.ipynb"), str(tmp_path / "out.ipynb")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "started" in proc.stdout.readline()  # the cell runs in the kernel
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1 and stderr.splitlines()[-1] == "error: sleep.ipynb: DeadKernelError: Kernel died"
    assert "AssertionError" not in stderr and "mnistreport/build.py" not in stderr  # the kernel may log its own


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize(("given", "exported"), [("my data/mnist", f"{REPO}/my data/mnist"),
                                                 ("/mnt/my data/mnist", "/mnt/my data/mnist")])
def test_make_keeps_a_mirror_path_with_a_space_whole(given: str, exported: str):
    """Before: $(abspath) split "my data/mnist" into two absolute paths."""
    show = 'show-mirror: ; @printf "%s\\n" "$$MNIST_MIRROR"'
    done = subprocess.run(["make", "-s", f"--eval={show}", "show-mirror"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "MNIST_MIRROR": given}, timeout=60, check=True)
    assert done.stdout == exported + "\n"


# ------------------------------------------------------------------------------- the demo's command
def _store_template_runs(results: Path, mlp_weights=None) -> None:
    """Seed-0 "lenet5" and "mlp" runs with weights, as notebook 3 stores them (not scored: no test set needed)."""
    torch.manual_seed(0)
    for name, model in (("lenet5", LeNet5()), ("mlp", CustomMLP())):
        spec = RunSpec(name, model=name)
        identifier = f"{name}-seed0-sample100-0000000000"
        write_json(results / f"{identifier}.json", {
            "id": identifier, "name": name, "seed": 0, "spec": spec.to_dict(), "parameters": 1, "seconds": 1.0,
            "data": {"full": False, "n_train": 100, "n_test": 10}, "created": "2026-01-01T00:00:00+0000",
            "final_test_acc": None, "history": [{"epoch": 1, "train_acc": 0.5}]})
        weights_path(identifier, results).parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), weights_path(identifier, results))
    if mlp_weights is not None:
        mlp_weights(weights_path("mlp-seed0-sample100-0000000000", results))


def test_the_demo_refuses_a_malicious_weights_file_in_one_line(tmp_path: Path):
    """Before: torch's UnpicklingError traceback (the MLP's weights were read outside `load_weights`)."""
    marker = tmp_path / "ran"
    _store_template_runs(tmp_path / "results", lambda path: torch.save({"payload": RunsCode(marker)}, path))
    done = subprocess.run([sys.executable, "-m", "mnistreport.demo", "--results-dir", str(tmp_path / "results"),
                           "--out", str(tmp_path / "demo.html")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "mlp-seed0-sample100-0000000000.pt: cannot load weights" in line and "could run code, refused" in line
    assert not marker.exists() and not (tmp_path / "demo.html").exists()


def test_the_demo_writes_into_the_repository_from_any_directory(tmp_path: Path, monkeypatch, capsys):
    """Before: ./reports/demo.html of whatever directory it was run from; a stray notes.json was a KeyError."""
    _store_template_runs(tmp_path / "results")
    write_json(tmp_path / "results" / "notes.json", {"todo": "ask about dropout"})
    repo_reports, elsewhere = tmp_path / "repo" / "reports", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(paths, "REPORTS_DIR", repo_reports)
    assert demo.main(["--results-dir", str(tmp_path / "results")]) == 0
    assert (repo_reports / "demo.html").is_file() and not (elsewhere / "reports").exists()
    assert "notes.json: not a stored run (no history), skipped" in capsys.readouterr().err


# ------------------------------------------------------------------------------- a re-check of the hostile review
@pytest.mark.parametrize("keep", [0, 0.1, 0.5, 0.99])
def test_a_truncated_weights_file_is_said_to_be_cut_short(tmp_path: Path, capsys, keep: float):
    """Before: `cannot load weights ... ([Errno 22] Invalid argument)`, or miniz's internals, depending on the cut."""
    def cut(path: Path) -> None:
        torch.save(CustomMLP().state_dict(), path)
        path.write_bytes(path.read_bytes()[:int(path.stat().st_size * keep)])

    results = tmp_path / "results"
    _store_template_runs(results, cut)
    assert demo.main(["--results-dir", str(results), "--out", str(tmp_path / "demo.html")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line == (f"error: {weights_path('mlp-seed0-sample100-0000000000', results)}: cannot load weights for run "
                    "mlp-seed0-sample100-0000000000 (it is cut short or not a torch file)")


@pytest.mark.parametrize("content", [[], {"rows": None}, {"machine": {}, "rows": []}, "text"])
def test_a_benchmark_file_that_is_no_result_is_skipped_with_a_warning(tmp_path: Path, content):
    """Before: `python -m mnistreport readme` (and make report's last step) crashed: TypeError, KeyError 'machine'."""
    from mnistreport.readme import BENCH_END, BENCH_START, bench_block, update_readme

    for name in ("results-cpu.json", "results-sweep-2cores.json"):
        shutil.copy(REPO / "benchmarks" / name, tmp_path / name)
    good = bench_block(tmp_path)
    for name in ("results-zzz.json", "results-sweep-zzz.json"):
        write_json(tmp_path / name, content)
        skipped = rf"^{re.escape(str(tmp_path / name))}: not a benchmark result, skipped \("
        with pytest.warns(UserWarning, match=skipped):
            assert bench_block(tmp_path) == good
        (tmp_path / name).unlink()
    write_json(tmp_path / "results-zzz.json", content)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n<!-- results:start -->\nold\n<!-- results:end -->\n{BENCH_START}\nold\n{BENCH_END}\n")
    with pytest.warns(UserWarning, match="results-zzz.json: not a benchmark result, skipped"):
        assert update_readme(readme, results_block="new", bench_dir=tmp_path)
    assert good in readme.read_text()


FAILING_NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    {"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]}, "outputs": [], "execution_count": None,
     "source": "RETRAIN = False\nJOBS = 'auto'"},
    {"cell_type": "code", "id": "load", "metadata": {}, "outputs": [], "execution_count": None,
     "source": "def load():\n    raise ValueError('results/x.json: final_test_acc is null, an accuracy from 0 to 1 "
               "expected')\n\nload()"}]}


def test_a_failing_notebook_in_the_build_is_one_line_naming_the_copy_with_the_traceback(tmp_path: Path, monkeypatch):
    """Before: `make report` printed nbclient's "An error occurred" block and the whole cell traceback (64 lines)
    before the one line naming the notebook and the cell; in place (full MNIST) the copy was deleted with its folder."""
    from jupyter_client.kernelspec import KernelSpecManager

    from mnistreport import build

    if "mnistlib" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("no mnistlib kernel (make setup installs it)")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_json(notebooks / "03_bad.ipynb", FAILING_NOTEBOOK)
    before = (notebooks / "03_bad.ipynb").read_text()
    monkeypatch.setattr(build, "FULL_DIR", tmp_path / "build" / "full")
    log: list[str] = []
    with pytest.raises(build.NotebookExecutionError) as err:
        build.build_report(mode="full", out_dir=tmp_path / "reports", notebooks_dir=notebooks, log=log.append)
    copy = tmp_path / "build" / "full" / "notebooks" / "03_bad.ipynb"
    assert str(err.value) == ("03_bad.ipynb: cell 2 ('def load():') raised ValueError: results/x.json: final_test_acc "
                              f"is null, an accuracy from 0 to 1 expected (executed copy with the traceback: {copy})")
    assert not [line for line in log if "Traceback" in line or "ValueError" in line or "error occurred" in line], log
    assert '"output_type": "error"' in copy.read_text() and (notebooks / "03_bad.ipynb").read_text() == before
