"""Checkpoints of interrupted runs: tensors and plain numbers, saved atomically after every epoch and read with
`weights_only=True` (no code runs). An unreadable one is set aside and the run starts over; another run's is refused."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnistfiles.io import atomic_path, unloadable

FORMAT = 2  # format 1 (pickled signature and history) is read no more: a run it interrupted starts over


class CheckpointError(RuntimeError):
    """A readable checkpoint that cannot be used for this run; the message names the file."""


def save_checkpoint(path: Path, signature: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None, epochs: list[dict[str, float]]) -> None:
    """The state after the last finished epoch; a kill mid-write keeps the previous one."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "meta": json.dumps({"signature": signature, "history": epochs}),
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None}, tmp)


def load_checkpoint(path: Path, signature: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None, device: torch.device | str
                    ) -> list[dict[str, float]]:
    """Restore model, optimizer and scheduler from `path`; the finished epochs' records ([] with no file, or an
    unreadable one). A checkpoint of another run (settings, seed, data or model differ): CheckpointError."""
    if not path.exists():
        return []
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"not a mnistlib checkpoint of format {FORMAT}")
        meta = json.loads(state["meta"])
        if not isinstance(meta["history"], list):
            raise ValueError("history is not a list")
    except Exception as exc:  # torch raises many types for truncated, foreign or unsafe files
        kept = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")  # kept for inspection
        try:
            path.rename(kept)
            where = f"set aside as {kept.name}"
        except OSError as rename_error:
            path.unlink(missing_ok=True)
            where = f"removed (could not rename it: {rename_error.strerror})"
        print(f"mnistlib: checkpoint {path} is unreadable ({unloadable(exc)}); {where}; starting the run over",
              file=sys.stderr)
        return []
    if meta["signature"] != json.loads(json.dumps(signature)):  # as JSON: tuples compare as lists
        raise CheckpointError(f"{path}: checkpoint belongs to a different run (settings, seed, data or model "
                              "differ); delete it to start over")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
    except Exception as exc:
        raise CheckpointError(f"{path}: checkpoint does not fit this model ({exc}); delete it to start over") from exc
    return meta["history"]
