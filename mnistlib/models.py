"""LeNet-5 (optionally with batch norm and dropout, or the 1998 partial C3) and the MLP; parameters and MACs counted."""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn


class LeNet5(nn.Module):
    """LeNet-5 as the course template draws it: 61,706 parameters, 2x2 max pooling, ReLU, logits out; C1 pads 28x28 to
    the paper's 32x32, C3 reads all six S2 maps. Optional layers are None when off (the template's layers exactly)."""

    def __init__(self, batch_norm: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.batch_norm = batch_norm  # read by the web demo's exporter
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


# LeCun et al. 1998, Table I: which of S2's 6 maps each of C3's 16 maps reads. Maps 0-5 read 3 neighbouring maps,
# 6-11 read 4 neighbouring maps, 12-14 read 4 non-neighbouring ones, 15 reads all six: 60 of the 96 pairs.
C3_TABLE_1998: tuple[tuple[int, ...], ...] = (*(tuple((j + k) % 6 for k in range(3)) for j in range(6)),
                                               *(tuple((j + k) % 6 for k in range(4)) for j in range(6)),
                                               (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5))


class PartialConv2d(nn.Module):
    """A convolution whose output map j sees only the input maps `table[j]`: weights per connection (60 x 5 x 5 for C3),
    so `numel` counts the paper's parameters; forward scatters them into a full kernel of zeros."""

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, len(table), kernel_size
        pairs = [(out, inp) for out, inputs in enumerate(table) for inp in inputs]
        self.register_buffer("out_index", torch.tensor([o for o, _ in pairs]), persistent=False)
        self.register_buffer("in_index", torch.tensor([i for _, i in pairs]), persistent=False)
        reference = nn.Conv2d(in_channels, len(table), kernel_size)  # the usual initialisation, per kernel
        self.weight = nn.Parameter(reference.weight.detach()[self.out_index, self.in_index].clone())
        self.bias = nn.Parameter(reference.bias.detach().clone())

    def full_weight(self) -> torch.Tensor:
        full = self.weight.new_zeros(self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)
        return full.index_put((self.out_index, self.in_index), self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.full_weight(), self.bias)


class LeNet5Original(LeNet5):
    """LeNet-5 with the 1998 paper's partial C3 (Table I): 1,516 parameters instead of 2,416 (60,806 in all)."""

    def __init__(self) -> None:
        super().__init__()
        self.c3 = PartialConv2d(6, C3_TABLE_1998, kernel_size=5)


class CustomMLP(nn.Module):
    """A multilayer perceptron of 62,020 parameters (LeNet-5: 61,706), 784 -> 78 -> 10, ReLU: of nine shapes within 1%
    of LeNet-5's count, the best on validation images (scripts/tune_on_validation.py; notebook 2 shows the grid)."""

    def __init__(self, hidden: tuple[int, ...] = (78,)) -> None:
        super().__init__()
        widths = (28 * 28, *hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        for n_in, n_out in itertools.pairwise(widths):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.layers = nn.Sequential(*layers, nn.Linear(widths[-1], 10))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.layers(img)


MODEL_NAMES = ("lenet5", "mlp", "lenet5_1998")


def build_model(name: str, batch_norm: bool = False, dropout: float = 0.0) -> nn.Module:
    """Make a model by name: lenet5, mlp, lenet5_1998, or mlp-A-B... (an MLP with hidden sizes A, B, ...)."""
    if name == "lenet5":
        return LeNet5(batch_norm=batch_norm, dropout=dropout)
    if batch_norm or dropout:
        raise ValueError(f"batch norm and dropout apply to lenet5 only, not to {name!r}")
    if constructor := {"lenet5_1998": LeNet5Original, "mlp": CustomMLP}.get(name):
        return constructor()
    widths = name.removeprefix("mlp-").split("-")
    if name.startswith("mlp-") and all(width.isdecimal() and int(width) > 0 for width in widths):
        return CustomMLP(tuple(map(int, widths)))
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)} or mlp-A-B (hidden sizes)")


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
    """(shape, formula, count) of one layer, from its sizes."""
    if isinstance(module, nn.Conv2d):
        (k_h, k_w), n_in, n_out = module.kernel_size, module.in_channels, module.out_channels
        bias = n_out if module.bias is not None else 0
        return (f"{n_in}->{n_out}, {k_h}x{k_w}", f"{n_out} x ({n_in}x{k_h}x{k_w}) + {bias}",
                n_out * (n_in // module.groups * k_h * k_w) + bias)
    if isinstance(module, nn.Linear):
        n_in, n_out = module.in_features, module.out_features
        bias = n_out if module.bias is not None else 0
        return f"{n_in}->{n_out}", f"{n_out} x {n_in} + {bias}", n_out * n_in + bias
    if isinstance(module, PartialConv2d):
        k, links, n_out = module.kernel_size, len(module.weight), module.out_channels
        return (f"{module.in_channels}->{n_out}, {k}x{k}, partial", f"{links} connections x ({k}x{k}) + {n_out}",
                links * k * k + n_out)
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        n = module.num_features
        return f"{n} features", f"2 x {n} (scale, shift)", 2 * n if module.affine else 0
    raise TypeError(f"no parameter formula for {type(module).__name__}")


def parameter_table(model: nn.Module) -> list[LayerParameters]:
    """Per-layer formula and count for every module that owns parameters; each formula is checked against numel."""
    rows = []
    for name, module in model.named_modules():
        if own := [p for p in module.parameters(recurse=False) if p.requires_grad]:
            shape, formula, count = _layer_formula(module)
            if count != (actual := sum(p.numel() for p in own)):
                raise AssertionError(f"formula for {name} gives {count} but the module has {actual} parameters")
            rows.append(LayerParameters(name, type(module).__name__, shape, formula, count))
    return rows


def multiply_accumulates(model: nn.Module, input_shape: tuple[int, ...] = (1, 28, 28)) -> int:
    """Multiply-accumulates of a forward pass for one image: half of FlopCounterMode's FLOPs (convolutions, matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode
    with _eval_mode(model), FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros((1, *input_shape), device=next(model.parameters()).device))
    return counter.get_total_flops() // 2


def summary_text(model: nn.Module, input_size: tuple[int, int, int] = (1, 28, 28)) -> str:
    """torchsummary's layer table as text (torchsummary prints; we capture it so notebooks can show it)."""
    from torchsummary import summary
    with _eval_mode(model), contextlib.redirect_stdout(buffer := io.StringIO()):
        summary(model, input_size, device="cuda" if next(model.parameters()).device.type == "cuda" else "cpu")
    return buffer.getvalue()


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode while measuring (batch norm then uses no batch statistics), then the mode the model was in."""
    was_training = model.training
    try:
        yield model.eval()
    finally:
        model.train(was_training)
