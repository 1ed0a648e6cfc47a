"""What every binary in bin/ shares: quiet TensorFlow, and one-line errors with no traceback.

Usage in a binary::

    import _app          # first: it must run before TensorFlow is imported
    ...
    if __name__ == "__main__":
        _app.run(main)

A bad flag value, any :class:`mnist_tf.errors.MnistTfError` (bad data file,
missing GPU, no checkpoint), or an unusable path (``OSError``, or TensorFlow's
``OpError`` from ``tf.io.gfile``) prints ``error: <one line>`` on stderr and exits
with status 2 (flags) or 1 (everything else).
"""

import os
import sys


def _wants_tensorflow_logs(argv) -> bool:
    """True for ``--verbosity=N``/``-v N`` with N >= 1 (absl's own flag)."""
    for i, arg in enumerate(argv):
        for prefix in ("--verbosity", "-v"):
            if arg == prefix and i + 1 < len(argv):
                value = argv[i + 1]
            elif arg.startswith(prefix + "="):
                value = arg.split("=", 1)[1]
            else:
                continue
            return value.lstrip("-").isdigit() and int(value) >= 1
    return False


if _wants_tensorflow_logs(sys.argv):
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"

import mnist_tf  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)

if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0":
    # TensorFlow's Python-side INFO/WARNING chatter (checkpoint sharding, retracing notes).
    import logging  # noqa: E402

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from absl import logging as absl_logging  # noqa: E402

from mnist_tf.errors import MnistTfError, first_line  # noqa: E402


def fail(message: str, status: int = 1):
    """Prints ``error: message`` on one line and exits with ``status``."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        message = str(e).replace("\n", " ")
        fail(message.removeprefix("ERROR:: ").removeprefix("ERROR: "), status=2)


def run(main):
    """Runs ``main(argv)`` as an absl app with one-line errors instead of tracebacks."""

    def guarded_main(argv):
        if not _wants_tensorflow_logs(sys.argv):
            # TensorFlow logs INFO lines through absl (e.g. on every checkpoint save).
            absl_logging.set_verbosity(absl_logging.WARNING)
        try:
            main(argv)  # absl exits with whatever main returns: keep it None (status 0)
        except MnistTfError as e:
            fail(str(e))
        except OSError as e:  # disk full, permission denied, unreadable path
            fail(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
        except tf.errors.OpError as e:  # the same through tf.io.gfile, e.g. an unwritable --logdir
            fail(f"{first_line(e)} ({type(e).__name__})")
        except KeyboardInterrupt:
            fail("interrupted", status=130)

    app.run(guarded_main, flags_parser=_parse_flags)
