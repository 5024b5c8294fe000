"""Parameter counts layer by layer, computed from the modules and checked against the template's numbers."""

import pytest
import torch
from torch import nn

from mnistlib.models import (
    CustomMLP,
    LeNet5,
    build_model,
    count_parameters,
    multiply_accumulates,
    parameter_table,
    summary_text,
)
from mnistlib.study import load_decision


def test_lenet5_parameters_layer_by_layer():
    rows = {row.name: row.count for row in parameter_table(LeNet5())}
    assert rows == {"c1": 156, "c3": 2416, "c5": 48120, "f6": 10164, "output": 850}
    assert count_parameters(LeNet5()) == 61706


def test_custom_mlp_counts_are_its_layers_and_the_validated_shape_fits_the_budget():
    """What must hold whatever width a student gives CustomMLP: its count is (in + 1) x out summed over its layers;
    the shape chosen on validation (and any shape of build_model's grid) is within 1% of LeNet-5."""
    mlp = CustomMLP()
    linear = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    assert count_parameters(mlp) == sum((m.in_features + 1) * m.out_features for m in linear)
    assert linear[0].in_features == 28 * 28 and linear[-1].out_features == 10
    kinds = {type(m) for m in mlp.modules()} - {CustomMLP, nn.Sequential}
    assert kinds <= {nn.Linear, nn.ReLU, nn.Flatten}
    shape = load_decision("mlp_shape")
    for candidate in shape["candidates"]:
        assert count_parameters(build_model(candidate["name"])) == candidate["parameters"]
        assert abs(candidate["parameters"] - count_parameters(LeNet5())) / count_parameters(LeNet5()) < 0.01


def test_formula_matches_every_layer():
    for row in parameter_table(CustomMLP()) + parameter_table(LeNet5(batch_norm=True, dropout=0.25)):
        # "out x in + bias" and "out x (in x k x k) + bias" evaluate to the count
        expression = row.formula.split(" (scale")[0].replace("x", "*")
        assert eval(expression) == row.count, row  # noqa: S307 - formulas are our own strings


@pytest.mark.parametrize("model", [LeNet5(), CustomMLP(), LeNet5(batch_norm=True, dropout=0.5)])
def test_logits_out(model):
    model.eval()
    out = model(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10)
    # logits, not probabilities: rows need not sum to one and may be negative
    assert not torch.allclose(out.sum(1), torch.ones(3))


def test_lenet5_uses_2x2_max_pooling():
    pools = [m for m in LeNet5().modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 2 and all(p.kernel_size == 2 for p in pools)


def test_regularized_switches():
    plain = LeNet5()
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.Dropout)) for m in plain.modules())
    both = LeNet5(batch_norm=True, dropout=0.3)
    assert sum(isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) for m in both.modules()) == 4
    assert [m.p for m in both.modules() if isinstance(m, nn.Dropout)] == [0.3]
    bn_only = LeNet5(batch_norm=True, dropout=0.0)
    assert count_parameters(bn_only) == 61706 + 2 * (6 + 16 + 120 + 84)
    with pytest.raises(ValueError, match="dropout"):
        LeNet5(dropout=1.5)


def test_dropout_is_active_only_in_training():
    model = LeNet5(dropout=0.5)
    x = torch.randn(4, 1, 28, 28)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    assert not torch.equal(model(x), model(x))


def test_multiply_accumulates():
    # conv: output elements x inputs per output; linear: in x out
    lenet = 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 120 * 400 + 120 * 84 + 84 * 10
    assert multiply_accumulates(LeNet5()) == lenet
    assert multiply_accumulates(CustomMLP()) == 784 * 78 + 78 * 10
    assert multiply_accumulates(CustomMLP((74, 42))) == 784 * 74 + 74 * 42 + 42 * 10


def test_build_model_rejects_bad_names_and_mlp_regularizers():
    assert isinstance(build_model("mlp"), CustomMLP)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet")
    with pytest.raises(ValueError, match="lenet5 only"):
        build_model("mlp", batch_norm=True)


def test_torchsummary_table_has_the_total():
    text = summary_text(LeNet5())
    assert "Total params: 61,706" in text
    assert "Conv2d-1" in text and "Linear-11" in text


def test_lenet5_1998_counts_the_paper_c3_from_its_module():
    from mnistlib.models import C3_TABLE_1998, LeNet5Original

    assert sum(len(inputs) for inputs in C3_TABLE_1998) == 60 and len(C3_TABLE_1998) == 16
    assert all(len(set(inputs)) == len(inputs) and set(inputs) <= set(range(6)) for inputs in C3_TABLE_1998)
    model = LeNet5Original()
    c3 = next(row for row in parameter_table(model) if row.name == "c3")
    assert c3.count == 60 * 25 + 16 == 1516 and c3.formula == "60 connections x (5x5) + 16"
    assert count_parameters(model) == count_parameters(LeNet5()) - 2416 + 1516 == 60806
    # The 36 missing pairs really are absent: their kernels stay zero, however the weights change.
    full = model.c3.full_weight().detach()
    connected = torch.zeros(16, 6, dtype=torch.bool)
    for out, inputs in enumerate(C3_TABLE_1998):
        connected[out, list(inputs)] = True
    assert (full[~connected] == 0).all() and (full[connected].abs().sum((-1, -2)) > 0).all()
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_mlp_names_build_the_named_shapes():
    assert count_parameters(build_model("mlp-68-64-52")) == count_parameters(LeNet5())
    with pytest.raises(ValueError, match="unknown model"):
        build_model("mlp-0-3")
