"""The command line: every argument checked before the first batch, one-line errors, resumable train runs."""

from __future__ import annotations

import json

from mnistlib.cli import main


def test_cli_train_prints_epochs_and_writes_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path / "data"))
    out = tmp_path / "result.json"
    code = main(["train", "--model", "mlp", "--epochs", "2", "--source", "sample", "--device", "cpu",
                 "--out", str(out), "--progress", "epoch"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "epoch   1/2" in printed and "epoch   2/2" in printed and "SAMPLE" in printed
    result = json.loads(out.read_text())
    assert len(result["history"]) == 2 and result["parameters"] == 61670


def test_cli_rejects_regularizers_on_the_mlp(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path / "data"))
    assert main(["train", "--model", "mlp", "--bn", "--source", "sample", "--epochs", "1"]) == 2
    assert "lenet5 only" in capsys.readouterr().err
