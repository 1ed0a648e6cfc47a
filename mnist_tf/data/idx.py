"""IDX files (the MNIST format), gzipped or raw.

IDX layout (big-endian), from http://yann.lecun.com/exdb/mnist/::

    bytes 0-1  zero
    byte  2    element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
               0x0D float32, 0x0E float64
    byte  3    number of dimensions d
    then       d uint32 sizes, then the elements in C order

So the MNIST images have magic ``0x00000803`` and sizes ``[N, 28, 28]`` (uint8), the
labels ``0x00000801`` and ``[N]``. Every read checks the magic number, the sizes and that
the data is exactly ``prod(sizes) * itemsize`` bytes: a truncated file, or one with
trailing bytes, is a :class:`DataError`, never a silently short array.

Keras's ``mnist.npz`` is read by :mod:`mnist_tf.data.npz`, with the same bounds.
"""

import gzip
import math
import os
import struct
import zlib
from typing import NamedTuple

import numpy as np

from mnist_tf.errors import DataError

IMAGE_SIZE = 28
NUM_CLASSES = 10

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes read (or decompressed) at a time
MAX_DEFLATE_RATIO = 1032  # deflate's largest expansion: 258 output bytes per 2 bits of input
_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class MnistArrays(NamedTuple):
    """MNIST in memory: uint8 images ``[N, 28, 28]`` and uint8 labels ``[N]`` in 0-9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _open(path):
    """``(binary file object, its size on disk, gzipped?)``; gzipped by magic or by name."""
    path = os.fspath(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not an IDX file") from None
    size = os.fstat(f.fileno()).st_size
    if f.read(2) == _GZIP_MAGIC or path.endswith(".gz"):
        f.seek(0)
        return gzip.GzipFile(fileobj=f, mode="rb"), size, True
    f.seek(0)
    return f, size, False


def check_claim(name, header: int, claimed: int, size: int, compressed: bool, what: str) -> None:
    """Refuses a header whose ``claimed`` data bytes a file of ``size`` bytes cannot hold.

    A raw file holds exactly ``size - header`` bytes of data; a deflate stream
    expands at most :data:`MAX_DEFLATE_RATIO` times. Checked before anything the size
    of the claim is allocated or decompressed.
    """
    if not compressed:
        found = size - header
        if found != claimed:
            kind = "truncated" if found < claimed else "trailing bytes after the data"
            raise DataError(f"{name}: {kind}: {what}, file has {found}")
    elif header + claimed > size * MAX_DEFLATE_RATIO:
        raise DataError(f"{name}: truncated: {what}, more than a compressed file of {size} "
                        f"bytes can hold ({size * MAX_DEFLATE_RATIO} at most)")


def read_exactly(f, nbytes: int, name, what: str) -> np.ndarray:
    """Reads exactly ``nbytes`` from ``f`` in chunks, then makes sure nothing follows.

    At most ``nbytes + 1`` bytes are ever read (or decompressed), whatever the file holds.

    Raises:
      DataError: (one line naming ``name``) fewer bytes (truncated) or more (trailing).
    """
    buffer = np.empty(nbytes, np.uint8)
    view, done = memoryview(buffer), 0
    while done < nbytes:
        got = f.readinto(view[done:done + _CHUNK])
        if not got:
            raise DataError(f"{name}: truncated: {what}, file has {done}")
        done += got
    if f.read(1):
        raise DataError(f"{name}: trailing bytes after the data: {what}, file has more")
    return buffer


def read_idx(path) -> np.ndarray:
    """Reads an IDX file; gzipped if it starts with the gzip magic or its name ends ``.gz``.

    Sizes are Python ints (a header's product cannot wrap around), checked against the
    file's size before the data is read, and a gzipped file is decompressed only up
    to what its header declares plus one byte: a small file never costs more memory
    than it could honestly hold.

    Args:
      path: the file.

    Returns:
      An array with the header's shape, in the header's element type (native byte order).

    Raises:
      DataError: (one line naming ``path``) missing file, bad gzip, bad magic number,
        or a data size that does not match the header (truncated or trailing bytes).
    """
    f, size, compressed = _open(path)
    try:
        with f:
            return _read_idx(f, path, size, compressed)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a complete gzip file ({e})") from None


def _read_idx(f, path, size: int, compressed: bool) -> np.ndarray:
    magic = f.read(4)
    if len(magic) < 4:
        raise DataError(f"{path}: truncated IDX file: {len(magic)} bytes, no header")
    zero, type_code, ndim = struct.unpack(">HBB", magic)
    if zero != 0 or type_code not in _TYPES or ndim == 0:
        raise DataError(f"{path}: bad IDX magic number 0x{magic.hex()} (expected "
                        f"0x00000803 for images or 0x00000801 for labels)")
    header = 4 + 4 * ndim
    sizes = f.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions need {header} "
                        f"bytes, file has {4 + len(sizes)}")
    shape = struct.unpack(f">{ndim}I", sizes)
    dtype = _TYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: never wraps around
    what = f"header says {list(shape)} {dtype.name} = {expected} bytes of data"
    check_claim(path, header, expected, size, compressed, what)
    data = read_exactly(f, expected, path, what)
    return data.view(dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def read_images(path) -> np.ndarray:
    """Reads an IDX images file: uint8 ``[N, 28, 28]``; anything else is a DataError."""
    array = read_idx(path)
    check_images(array, path)
    return array


def read_labels(path) -> np.ndarray:
    """Reads an IDX labels file: uint8 ``[N]`` with values 0-9; anything else is a DataError."""
    array = read_idx(path)
    check_labels(array, path)
    return array


def check_images(array: np.ndarray, name) -> None:
    """Raises DataError naming ``name`` unless ``array`` is uint8 ``[N, 28, 28]``."""
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"{name}: images are {array.dtype.name} {list(array.shape)}, "
                        f"expected uint8 [N, {IMAGE_SIZE}, {IMAGE_SIZE}]")


def check_labels(array: np.ndarray, name) -> None:
    """Raises DataError naming ``name`` unless ``array`` is uint8 ``[N]`` in 0-9."""
    if array.dtype != np.uint8 or array.ndim != 1:
        raise DataError(f"{name}: labels are {array.dtype.name} {list(array.shape)}, "
                        f"expected uint8 [N]")
    if array.size and array.max() >= NUM_CLASSES:
        raise DataError(f"{name}: label {int(array.max())} out of range 0-{NUM_CLASSES - 1}")


def check_counts(images: np.ndarray, labels: np.ndarray, images_name, labels_name) -> None:
    """Raises DataError naming both files unless there is one label per image, and naming
    ``images_name`` when there are no images (an empty set can be neither trained nor tested on)."""
    if len(images) != len(labels):
        raise DataError(f"{images_name} has {len(images)} images but {labels_name} has "
                        f"{len(labels)} labels")
    if not len(images):
        raise DataError(f"{images_name}: no images (expected at least one)")


def write_idx(path, array: np.ndarray) -> None:
    """Writes a uint8 array of 1 or 3 dimensions as IDX; gzipped when ``path`` ends ``.gz``.

    Args:
      path: the file to write (overwritten).
      array: uint8 labels ``[N]`` or images ``[N, H, W]``.

    Raises:
      ValueError: the array is not uint8 with 1 or 3 dimensions.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (1, 3):
        raise ValueError(f"write_idx: array must be uint8 with 1 or 3 dimensions, got "
                         f"{array.dtype.name} {list(array.shape)}")
    data = struct.pack(f">HBB{array.ndim}I", 0, 0x08, array.ndim, *array.shape)
    data += np.ascontiguousarray(array).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)
