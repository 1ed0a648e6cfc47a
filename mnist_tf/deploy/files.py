"""Model files on disk: written atomically, read with a size bound.

A converted model is written to a temporary file beside its destination, checked
there, and only then renamed over it (``os.replace``): a reader never sees half a
file, and a refused export leaves nothing behind. A model file is read whole only
if it is at most ``MAX_MODEL_BYTES``, so a wrong path (a multi-gigabyte file)
cannot fill memory.
"""

import contextlib
import os
import uuid

from mnist_tf.errors import MnistTfError

MAX_MODEL_BYTES = 256 << 20  # 256 MiB; our models are 40-150 KB


@contextlib.contextmanager
def staged(path: str):
    """Yields a temporary file name beside ``path``; on a normal exit it is renamed to ``path``
    (``os.replace``), on an exception it is removed and ``path`` is left as it was."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open's 0o666 under the umask (not mkstemp's 0600): others may read the model as
    # they could any file the user writes
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_atomic(path: str, data: bytes) -> str:
    """Writes ``data`` to ``path`` through :func:`staged`; returns ``path``."""
    with staged(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return path


def read_model_file(path: str, expected: str) -> bytes:
    """The bytes of the model file ``path``.

    Raises:
      MnistTfError: (one line, ``path: ...`` naming ``expected``) missing, a directory,
        empty, or larger than ``MAX_MODEL_BYTES``.
    """
    if not os.path.isfile(path):
        what = "a directory" if os.path.isdir(path) else "no such file"
        raise MnistTfError(f"{path}: {what}; expected {expected}")
    size = os.path.getsize(path)
    if size == 0 or size > MAX_MODEL_BYTES:
        raise MnistTfError(f"{path}: {size:,} bytes; expected {expected} "
                           f"(1 byte to {MAX_MODEL_BYTES:,})")
    with open(path, "rb") as f:
        return f.read()
