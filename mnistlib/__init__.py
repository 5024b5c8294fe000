"""mnistlib: LeNet-5 vs a custom MLP on MNIST, with regularization measured over seeds."""

from mnistlib.data import MEAN, MNIST, STD, DataError, MnistArrays, TensorBatches, load_mnist
from mnistlib.models import CustomMLP, LeNet5, LeNet5Original, count_parameters, parameter_table
from mnistlib.training import TrainSettings, fit, select_device, test, train

__all__ = [
    "MEAN",
    "MNIST",
    "STD",
    "CustomMLP",
    "DataError",
    "LeNet5",
    "MnistArrays",
    "LeNet5Original",
    "TensorBatches",
    "TrainSettings",
    "count_parameters",
    "fit",
    "load_mnist",
    "parameter_table",
    "select_device",
    "test",
    "train",
]
