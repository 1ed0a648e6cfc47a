"""The four canonical MNIST files and their digests; ``verify()`` checks a file against them.

MNIST is distributed as four gzipped IDX files (LeCun, Cortes and Burges). Every mirror
and the PyPI wheel we fall back on hold these exact bytes, so one table of digests
covers every source. Both MD5 (the digest the mirrors publish) and SHA-256 (computed
from the real files; MD5 alone is not collision resistant) must match before a file is
used or enters the cache.

A checksum table is a mapping ``{file name: Digests(md5, sha256)}``; functions take one
as an argument (default :data:`FILES`) so tests can verify small synthetic files with a
table of their own, while real files are always held to the canonical one.
"""

import hashlib
import os
from typing import Mapping, NamedTuple

from mnist_tf.errors import DataError

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"


class Digests(NamedTuple):
    """The hex digests of one file."""

    md5: str
    sha256: str


FILES: Mapping[str, Digests] = {
    TRAIN_IMAGES: Digests("f68b3c2dcbeaaa9fbdd348bbdeb94873",
                          "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    TRAIN_LABELS: Digests("d53e105ee54ea40749a09fcbcd1e9432",
                          "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    TEST_IMAGES: Digests("9fb629c4189551a2d022fa330f9573f3",
                         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    TEST_LABELS: Digests("ec29112dd5afa0611ce80d1b7f02629c",
                         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}

_CHUNK = 1 << 20


def digests(path) -> Digests:
    """Computes the MD5 and SHA-256 of a file in one streaming pass.

    Args:
      path: the file to read.

    Returns:
      ``Digests(md5, sha256)`` as lowercase hex strings.
    """
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            md5.update(chunk)
            sha256.update(chunk)
    return Digests(md5.hexdigest(), sha256.hexdigest())


def verify(path, name: str, table: Mapping[str, Digests] = None, shown_as: str = None) -> Digests:
    """Checks that the file at ``path`` is the canonical file ``name``.

    Args:
      path: the file to check (it may be a temporary file about to become ``name``).
      name: which canonical file it should be, a key of ``table``.
      table: the checksum table; default :data:`FILES`. Tests pass their own.
      shown_as: how the error names the file; default ``path``. A download names its
        URL rather than its temporary file.

    Returns:
      The file's digests (equal to the expected ones).

    Raises:
      DataError: (one line) the file is missing or its MD5 or SHA-256 differ; names the
        file and both the expected and the actual digests.
      KeyError: ``name`` is not in ``table`` (a programming error, not a user one).
    """
    expected = (FILES if table is None else table)[name]
    shown = shown_as or str(path)
    if not os.path.isfile(path):
        raise DataError(f"{shown}: no such file (expected {name}, md5 {expected.md5})")
    actual = digests(path)
    if actual != expected:
        raise DataError(f"{shown}: checksum mismatch for {name}: expected md5 {expected.md5} "
                        f"sha256 {expected.sha256}, got md5 {actual.md5} sha256 {actual.sha256}")
    return actual
