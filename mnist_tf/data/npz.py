"""Keras's ``mnist.npz``: a zip of four ``.npy`` arrays, read without pickle and within bounds.

``~/.keras/datasets/mnist.npz`` holds MNIST under ``x_train``, ``y_train``, ``x_test`` and
``y_test``. Each member is parsed here rather than by ``np.load``: its ``.npy`` header
(shape and dtype) is checked against the bytes the member can really hold before
anything of that size is allocated (``np.load`` allocates what the header claims
first), object arrays (pickles) are refused, and at most the declared size plus one
byte is decompressed.
"""

import math
import os
import zipfile
import zlib

import numpy as np

from mnist_tf.data import idx
from mnist_tf.data.idx import MnistArrays
from mnist_tf.errors import DataError

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def _read_member(archive: zipfile.ZipFile, key: str, path, disk_size: int) -> np.ndarray:
    name = f"{path}[{key}]"
    try:
        info = archive.getinfo(f"{key}.npy")
    except KeyError:
        raise DataError(f"{path}: no array '{key}' (expected "
                        f"{', '.join(MnistArrays._fields)})") from None
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in _HEADER_READERS:
            raise DataError(f"{name}: .npy format version {version} (expected 1.0 or 2.0)")
        shape, fortran_order, dtype = _HEADER_READERS[version](f)
        if dtype.hasobject:
            raise DataError(f"{name}: an object array (pickled Python objects), refused")
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: never wraps around
        what = f"header says {list(shape)} {dtype.name} = {nbytes} bytes of data"
        idx.check_claim(name, f.tell(), nbytes, min(info.compress_size, disk_size),
                        info.compress_type != zipfile.ZIP_STORED, what)
        data = idx.read_exactly(f, nbytes, name, what).view(dtype)
    if fortran_order:
        return data.reshape(shape[::-1]).T
    return data.reshape(shape)


def read_npz(path) -> MnistArrays:
    """Reads Keras's ``mnist.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``).

    Args:
      path: the ``.npz`` file. Object arrays are refused: it can hold no code.

    Returns:
      ``MnistArrays`` of uint8 arrays, images ``[N, 28, 28]``, labels ``[N]``, N > 0.

    Raises:
      DataError: (one line naming ``path``) not a zip, a key missing, an array header
        claiming more than the file holds, an array of the wrong dtype or shape, no
        images, or train/test counts of images and labels differ.
    """
    try:
        disk_size = os.path.getsize(path)
        with zipfile.ZipFile(path) as archive:
            arrays = {key: _read_member(archive, key, path, disk_size)
                      for key in MnistArrays._fields}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        idx.check_images(x, f"{path}[x_{split}]")
        idx.check_labels(y, f"{path}[y_{split}]")
        idx.check_counts(x, y, f"{path}[x_{split}]", f"{path}[y_{split}]")
    return MnistArrays(**arrays)
