"""mnistlib: LeNet-5 vs a custom MLP on MNIST, with regularization measured over seeds."""

from mnistlib.data import MEAN, MNIST, STD, DataError, MnistArrays, TensorBatches, load_mnist
from mnistlib.models import CustomMLP, LeNet5, LeNet5Original, count_parameters, parameter_table
from mnistlib.training import TrainSettings, fit, select_device, test, train

__all__ = ["MEAN", "MNIST", "STD", "DataError", "MnistArrays", "TensorBatches", "load_mnist",
           "CustomMLP", "LeNet5", "LeNet5Original", "count_parameters", "parameter_table",
           "TrainSettings", "fit", "select_device", "test", "train"]
