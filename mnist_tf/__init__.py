"""mnist_tf: the Keras MNIST convnet in low-level TensorFlow 2.

Importing this package first keeps TensorFlow's start-up noise (CUDA probing,
oneDNN banners) off the terminal. Most of it obeys ``TF_CPP_MIN_LOG_LEVEL``,
set here to 3 unless the user set it; a few lines are printed by TensorFlow's
C++ code before its logging starts, where no setting reaches them, so
TensorFlow is imported here with file descriptor 2 pointed at /dev/null.
``TF_CPP_MIN_LOG_LEVEL=0`` (or a binary's ``--verbosity=1``) brings all of it
back.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"


def _import_tensorflow_quietly():
    """Imports TensorFlow with stderr silenced; on failure, again with stderr open."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
        failed = False
    except Exception:  # re-raised below with its message visible
        failed = True
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    if failed:
        import tensorflow  # noqa: F401,F811


if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0" and "tensorflow" not in sys.modules:
    _import_tensorflow_quietly()
