"""Checkpoints of interrupted runs: saved atomically after every epoch, read back without running any code.

A checkpoint is one `.pt` file holding only tensors and plain numbers (model, optimizer and scheduler state),
read with `torch.load(weights_only=True)`, which refuses a pickle that would run code. What is not a tensor
(which run it belongs to, the history so far) is stored as one JSON string inside the same file, so the two
can never disagree. A checkpoint that cannot be read is set aside (renamed `<name>.unreadable-<time>`, kept
for inspection) and the run starts over; one that belongs to another run is refused.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistlib.io import atomic_path

FORMAT = 2  # 1: everything pickled (read with weights_only=False, no longer accepted unless plain data)


class CheckpointError(RuntimeError):
    """A checkpoint that is readable but cannot be used for this run; the message names the file."""


def _plain(obj: Any) -> Any:
    """`obj` as it reads back from JSON (tuples become lists), so signatures compare across formats."""
    return json.loads(json.dumps(obj))


def save_checkpoint(path: Path, signature: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None, epochs: list[dict[str, float]]) -> None:
    """Write the state after the last finished epoch atomically: a kill mid-write keeps the previous one."""
    state = {"format": FORMAT, "meta": json.dumps({"signature": signature, "history": epochs}),
             "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict() if scheduler is not None else None}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _set_aside(path: Path, why: str) -> None:
    kept = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        path.rename(kept)
        where = f"set aside as {kept.name}"
    except OSError as exc:
        path.unlink(missing_ok=True)
        where = f"removed (could not rename it: {exc.strerror})"
    print(f"mnistlib: checkpoint {path} is unreadable ({why}); {where}; starting the run over", file=sys.stderr)


def load_checkpoint(path: Path, signature: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                    device: torch.device | str) -> list[dict[str, float]]:
    """Restore model, optimizer and scheduler from `path` and return the finished epochs' records.

    No file: []. An unreadable file (truncated, not a checkpoint, or a pickle that would run code): set aside
    with a message, []. A checkpoint of another run (settings, seed, data or model differ): CheckpointError.
    """
    if not path.exists():
        return []
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
            raise ValueError("not a mnistlib checkpoint")
        if "meta" in state:
            meta = json.loads(state["meta"])
        else:  # format 1 (plain data throughout, so weights_only reads it)
            meta = {"signature": state["signature"], "history": state["history"]["epochs"]}
        epochs = meta["history"]
        if not isinstance(epochs, list):
            raise ValueError("history is not a list")
    except Exception as exc:  # torch raises many types for truncated, foreign or unsafe files
        text = str(exc)
        why = f"{type(exc).__name__}: {text}".splitlines()[0][:200]
        if any(sign in text for sign in ("weights_only", "Weights only", "Unsupported global")):
            name = text.partition("GLOBAL ")[2].split(maxsplit=1)  # not torch's advice: weights_only=False runs it
            why = f"it holds pickled objects{f' ({name[0]})' if name else ''} that could run code, refused"
        _set_aside(path, why)
        return []
    if _plain(meta["signature"]) != _plain(signature):
        raise CheckpointError(f"{path}: checkpoint belongs to a different run (settings, seed, data or model "
                              "differ); delete it to start over")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
    except Exception as exc:
        raise CheckpointError(f"{path}: checkpoint does not fit this model ({exc}); delete it to start over") from exc
    return list(epochs)
