"""Refused weight and checkpoint files: the message says why, never repeats torch's advice to load them unsafely."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from conftest import RunsCode
from torch import nn

from mnistlib.checkpoints import load_checkpoint
from mnistlib.experiments import load_weights, weights_path
from mnistlib.models import CustomMLP

# What torch appends to a weights_only refusal: loading with weights_only=False "will likely succeed", or
# allowlisting the file's globals. Either runs whatever code the file carries; no message of ours may suggest it.
UNSAFE_ADVICE = ("weights_only", "likely succeed", "trust", "add_safe_globals", "safe_globals", "two options")


def plant(path: Path, kind: str, marker: Path) -> str:
    """A hostile or foreign file at `path`; returns the global torch's refusal names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "code":  # a blocked global: os.system
        torch.save({"model": {"weight": torch.zeros(1)}, "payload": RunsCode(marker)}, path)
        return "posix.system" if os.name == "posix" else "nt.system"
    if kind == "module":  # a whole pickled module: torch advises allowlisting its class
        torch.save({"model": nn.Linear(2, 2)}, path)
        return "torch.nn.modules.linear.Linear"
    path.write_bytes(pickle.dumps({"payload": RunsCode(marker)}, protocol=2))  # plain pickle; 2: no torch warning
    return ""


KINDS = ["code", "module", "plain pickle"]


@pytest.mark.parametrize("kind", KINDS)
def test_refused_weights_do_not_advise_weights_only_false(tmp_path, kind):
    result = {"id": "w-seed0", "spec": {"model": "mlp", "batch_norm": False, "dropout": 0.0}}
    path, marker = weights_path(result, tmp_path), tmp_path / "code-ran"
    named = plant(path, kind, marker)
    with pytest.raises(ValueError) as err:
        load_weights(result, tmp_path)
    message = str(err.value)
    assert message.startswith(f"{path}: cannot load weights for run w-seed0 (") and "could run code" in message
    assert named in message and not marker.exists()
    assert not [advice for advice in UNSAFE_ADVICE if advice in message.lower()], message
    assert err.value.__cause__ is None and err.value.__suppress_context__  # nor in a notebook's traceback


def test_weights_that_do_not_fit_still_say_why(tmp_path):
    result = {"id": "w-seed0", "spec": {"model": "mlp", "batch_norm": False, "dropout": 0.0}}
    path = weights_path(result, tmp_path)
    path.parent.mkdir(parents=True)
    torch.save({"not.a.layer": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match=r"(?s)cannot load weights for run w-seed0 \(.*Missing key") as err:
        load_weights(result, tmp_path)
    assert "could run code" not in str(err.value)


@pytest.mark.parametrize("kind", KINDS)
def test_refused_checkpoints_do_not_advise_weights_only_false(tmp_path, capsys, kind):
    path, marker = tmp_path / "run.pt", tmp_path / "code-ran"
    named = plant(path, kind, marker)
    model = CustomMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert load_checkpoint(path, {}, model, optimizer, None, "cpu") == []
    message = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("mnistlib: "))
    assert message.startswith(f"mnistlib: checkpoint {path} is unreadable (")
    assert "could run code, refused" in message and named in message and not marker.exists()
    assert not [advice for advice in UNSAFE_ADVICE if advice in message.lower()], message
    assert not path.exists() and len(list(tmp_path.glob("run.pt.unreadable-*"))) == 1
