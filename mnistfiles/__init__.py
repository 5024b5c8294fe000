"""MNIST's files, read and written safely: LeCun's IDX files, the course's PNG archives, a mirror or a download
copied in verified by md5, decoded tensors cached by content, and atomic writes for every file the project keeps.

Infrastructure beside the study (`mnistlib` reads the data through `mnistlib.data.load_mnist`): nothing here knows a
model or a run. Bad input is always a `DataError` that names the file and the problem; nothing is left half-written.
"""

from mnistfiles.cache import cached
from mnistfiles.checks import TENSOR_KEYS, DataError, Digits, checked
from mnistfiles.course import course_inputs, read_course, read_png_archive
from mnistfiles.idx import IDX_FILES, MD5, copy_from_mirror, download, idx_paths, read_idx, read_idx_folder

__all__ = ["IDX_FILES", "MD5", "TENSOR_KEYS", "DataError", "Digits", "cached", "checked", "copy_from_mirror",
           "course_inputs", "download", "idx_paths", "read_course", "read_idx", "read_idx_folder", "read_png_archive"]
