"""How a model is trained: the template's train/test, and `fit`, which adds per-epoch records, resume and seeds."""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mnistlib.augment import RandomAffine
from mnistlib.checkpoints import load_checkpoint, save_checkpoint
from mnistlib.data import MnistArrays, TensorBatches, train_val_split


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; continuing would only waste time."""


def select_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for, checked to exist here (ValueError if not); None or "auto": cuda, else mps, else cpu."""
    mps = torch.backends.mps.is_available()
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"{device!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if chosen.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{device}: not supported; use auto, cpu, cuda, cuda:N or mps")
    if chosen.type != "cpu" and not (torch.cuda.is_available() if chosen.type == "cuda" else mps):
        raise ValueError(f"{device}: {chosen.type.upper()} is not available on this machine (use cpu or auto)")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise ValueError(f"{device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return chosen


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, so that a CPU run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int) -> int:
    # From (seed, epoch) alone: a resumed run draws the same dropout masks without saving RNG states.
    return (seed * 1_000_003 + epoch * 7_919) % 2**63


def train(model: nn.Module, trn_loader: Iterable, device: torch.device | str, criterion: nn.Module,
          optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
          ) -> tuple[float, float]:
    """One epoch of training: (mean loss over samples, accuracy as a fraction); `scheduler` steps after every batch."""
    model.train()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    for images, labels in trn_loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        logits = model(images)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        # weighted by batch size: the epoch loss is a mean over samples, also with a smaller last batch
        total_loss += loss.detach() * labels.numel()
        correct += (logits.detach().argmax(1) == labels).sum()
        seen += labels.numel()
    if seen == 0:
        raise ValueError("the training loader yielded no batches")
    mean_loss = total_loss.item() / seen
    if not math.isfinite(mean_loss):
        raise TrainingDiverged(f"training loss became {mean_loss}: the run diverged (try a lower learning rate or "
                               "batch norm)")
    return mean_loss, correct.item() / seen


def test(model: nn.Module, tst_loader: Iterable, device: torch.device | str, criterion: nn.Module
         ) -> tuple[float, float]:
    """Evaluate without gradients: (mean loss over samples, accuracy as a fraction)."""
    model.eval()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    with torch.inference_mode():
        for images, labels in tst_loader:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            logits = model(images)
            total_loss += criterion(logits, labels) * labels.numel()
            correct += (logits.argmax(1) == labels).sum()
            seen += labels.numel()
    if seen == 0:
        raise ValueError("the test loader yielded no batches")
    return total_loss.item() / seen, correct.item() / seen


test.__test__ = False  # the template's name starts with "test": keep pytest from collecting it


@dataclass(frozen=True)
class TrainSettings:
    """Everything about how a model is trained; the defaults are the course template's."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = False
    lr_schedule: str = "constant"  # "constant" or "cosine" (per batch, down to 0 at the last step)
    val_size: int = 0  # training images held out for validation (stratified, fixed by the seed)
    test_every_epoch: bool = True  # False scores the test set once, after the last epoch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """SGD with momentum, as the template; weight decay skips biases and batch-norm parameters."""
    groups = [{"params": [p for p in model.parameters() if p.ndim > 1], "weight_decay": settings.weight_decay},
              {"params": [p for p in model.parameters() if p.ndim <= 1], "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum)


def _make_scheduler(optimizer: torch.optim.Optimizer, settings: TrainSettings, steps_per_epoch: int
                    ) -> torch.optim.lr_scheduler.LRScheduler | None:
    if settings.lr_schedule == "constant":
        return None
    if settings.lr_schedule == "cosine":
        total = settings.epochs * steps_per_epoch
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    raise ValueError(f"unknown lr_schedule {settings.lr_schedule!r}; choose 'constant' or 'cosine'")


def _use_bar(progress: str) -> bool:
    return progress == "bar" or progress == "auto" and sys.stderr.isatty() and "ipykernel" not in sys.modules


def format_epoch(record: dict[str, float], epochs: int) -> str:
    """One line per epoch, readable in a terminal and in an exported notebook."""
    splits = "".join(f"  {split} loss {record[f'{split}_loss']:.4f} acc {record[f'{split}_acc']:.2%}"
                     for split in ("train", "val", "test") if split == "train" or f"{split}_acc" in record)
    took = f"{record['seconds']:.1f}s" if record["seconds"] >= 0.1 else f"{1000 * record['seconds']:.0f}ms"
    return f"epoch {int(record['epoch']):>3}/{epochs}{splits}  {took}  lr {record['lr']:.4g}"


EVAL_BATCH = 1000  # evaluation needs no gradients: large batches, fewer kernel launches


def prepare_model(model: nn.Module, device: torch.device | str) -> nn.Module:
    """`model` on `device`, convolutional ones channels-last (LeNet-5: 1.8x faster, benchmarks/profile_epoch.py)."""
    model.to(device)
    if any(p.ndim == 4 for p in model.parameters()):
        model.to(memory_format=torch.channels_last)
    return model


def fit(model: nn.Module, data: MnistArrays, settings: TrainSettings | None = None, *, seed: int = 0,
        device: str | torch.device | None = None, checkpoint: str | Path | None = None, progress: str = "auto",
        log: Callable[[str], None] | None = print, score_test: bool = True) -> list[dict[str, float]]:
    """Train `model` on `data`; its history, one record per epoch (losses, accuracies, seconds, lr). With `checkpoint`,
    each epoch is saved and a second call resumes to the history an uninterrupted run has. `progress`: "auto" (a bar
    in a terminal, else a line per epoch), "bar", "epoch" or "none". `score_test=False` never touches the test set."""
    settings = settings or TrainSettings()
    device = select_device(device)
    prepare_model(model, device)
    train_images, train_labels = data.train_images, data.train_labels
    val_batches = None
    if settings.val_size:
        (train_images, train_labels), (val_images, val_labels) = train_val_split(train_images, train_labels,
                                                                                 settings.val_size, seed)
        val_batches = TensorBatches(val_images, val_labels, batch_size=EVAL_BATCH, device=device)
    augment = RandomAffine() if settings.augment else None
    train_batches = TensorBatches(train_images, train_labels, settings.batch_size, shuffle=True, device=device,
                                  augment=augment, seed=seed)
    test_batches = TensorBatches(data.test_images, data.test_labels, batch_size=EVAL_BATCH, device=device)
    optimizer = make_optimizer(model, settings)
    scheduler = _make_scheduler(optimizer, settings, len(train_batches))
    train_criterion = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    eval_criterion = nn.CrossEntropyLoss()
    history: list[dict[str, float]] = []
    checkpoint = Path(checkpoint) if checkpoint else None
    signature = {"settings": settings.to_dict(), "seed": seed, "data": data.identity(), "model": repr(model)}
    if checkpoint is not None:
        history = load_checkpoint(checkpoint, signature, model, optimizer, scheduler, device)
        if log and history:
            log(f"resuming from {checkpoint} after epoch {len(history)}")
    for epoch in range(len(history) + 1, settings.epochs + 1):
        torch.manual_seed(_epoch_seed(seed, epoch))
        train_batches.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        batches: Iterable = train_batches
        if _use_bar(progress):  # a bar only where a terminal watches; notebooks get one line per epoch
            batches = tqdm(train_batches, desc=f"epoch {epoch}/{settings.epochs}", leave=False, unit="batch",
                           dynamic_ncols=True, file=sys.stderr)
        start = time.perf_counter()
        train_loss, train_acc = train(model, batches, device, train_criterion, optimizer, scheduler)
        record: dict[str, float] = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
        if val_batches is not None:
            record["val_loss"], record["val_acc"] = test(model, val_batches, device, eval_criterion)
        if score_test and (settings.test_every_epoch or epoch == settings.epochs):
            record["test_loss"], record["test_acc"] = test(model, test_batches, device, eval_criterion)
        record["seconds"] = time.perf_counter() - start
        record["lr"] = lr
        history.append(record)
        if checkpoint is not None:
            save_checkpoint(checkpoint, signature, model, optimizer, scheduler, history)
        if log and progress != "none":
            log(format_epoch(record, settings.epochs))
    return history

