"""MNIST's files, read and written safely: LeCun's IDX files, the course's PNG archives, a mirror or a download
copied in verified by md5, decoded tensors cached by content, and atomic writes for every file the project keeps.

Infrastructure beneath the study (`mnistlib` reads the data through `mnistlib.data.load_mnist`): nothing here knows a
model or a run. Bad MNIST data is a `DataError` naming the file and the problem; `io`'s errors name the file too;
nothing is left half-written.
"""

from mnistfiles.cache import cached
from mnistfiles.course import course_inputs, read_course, read_png_archive
from mnistfiles.digits import TENSOR_KEYS, DataError, Digits, check_digits
from mnistfiles.idx import IDX_FILES, MD5, copy_from_mirror, download, idx_paths, read_idx, read_idx_folder

__all__ = ["IDX_FILES", "MD5", "TENSOR_KEYS", "DataError", "Digits", "cached", "check_digits", "copy_from_mirror",
           "course_inputs", "download", "idx_paths", "read_course", "read_idx", "read_idx_folder", "read_png_archive"]
