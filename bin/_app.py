"""What every binary in bin/ shares: quiet TensorFlow, and one-line errors with no traceback.

Usage in a binary::

    import _app          # first: it must run before TensorFlow is imported
    ...
    if __name__ == "__main__":
        _app.run(main)

A bad flag value (or a :class:`mnist_tf.errors.SettingError`, the library's
word for a setting out of range, shown as the flag of that name), any
:class:`mnist_tf.errors.MnistTfError` (bad data file, missing GPU, no
checkpoint), or an unusable path (``OSError``, or TensorFlow's ``OpError`` from
``tf.io.gfile``) prints ``error: <one line>`` on stderr and exits with status 2
(flags and settings) or 1 (everything else).

TensorFlow's start-up noise is kept off the terminal here, not in the library:
``TF_CPP_MIN_LOG_LEVEL=3`` and an import with stderr closed. ``--verbosity=1``
(or ``TF_CPP_MIN_LOG_LEVEL=0`` in the environment) brings all of it back. Either way
TensorFlow is imported through ``mnist_tf.startup``, which keeps Python's garbage collector off
the import's objects: ~1 s less of every binary's start and exit. A ``--onednn`` on the
command line or in a ``--flagfile`` (``bin/train.py``'s flag) is read here, before that import,
which is when TensorFlow fixes its CPU kernels (``mnist_tf/onednn.py``).
"""

import contextlib
import os
import sys

from absl import flags

from mnist_tf import onednn, startup


def _command_line(argv) -> list:
    """``argv`` with its ``--flagfile`` files read in, as absl reads them (an unreadable
    flagfile is left for absl's parse to name)."""
    try:
        return flags.FLAGS.read_flags_from_files(list(argv), force_gnu=False)
    except flags.Error:
        return list(argv)


def _flag_value(argv, *names):
    """The value last given to one of ``names`` (``--name=V`` or ``--name V``) in ``argv``
    (flagfiles read in: :func:`_command_line`); None if none is given. For the few settings
    that must act before TensorFlow is imported, before absl parses the flags."""
    value = None
    for i, arg in enumerate(argv):
        if arg == "--":  # absl reads no flag after it
            break
        for name in names:
            if arg == name and i + 1 < len(argv):
                value = argv[i + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    return value


def _wants_tensorflow_logs(argv) -> bool:
    """True for ``--verbosity=N``/``-v N`` with N >= 1 (absl's own flag)."""
    value = _flag_value(argv, "--verbosity", "-v")
    return value is not None and value.lstrip("-").isdigit() and int(value) >= 1


def _onednn_choice(argv) -> str:
    """``--onednn``'s value (``bin/train.py``), read before TensorFlow's import, which fixes
    its kernels; "auto" when absent (a bad value is absl's error once it parses)."""
    value = _flag_value(argv, "--onednn")
    return value if value in onednn.CHOICES else "auto"


@contextlib.contextmanager
def _stderr_to_devnull():
    """File descriptor 2 pointed at /dev/null inside the block, restored on any exit (an
    exception raised inside propagates once fd 2 is back, so that its reason is seen)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_tensorflow_quietly():
    """Imports TensorFlow with file descriptor 2 pointed at /dev/null. A few lines (CUDA
    probing, oneDNN banners) are printed by TensorFlow's C++ code before its logging starts,
    where no setting reaches them. A failed import is raised once fd 2 is back (not retried:
    a half-imported TensorFlow cannot be imported again)."""
    startup.import_tensorflow(_stderr_to_devnull())


@contextlib.contextmanager
def quiet_stderr():
    """Native code's prints kept off the terminal inside the block, unless the user asked for
    TensorFlow's logs (``--verbosity=1``, ``TF_CPP_MIN_LOG_LEVEL=0``). For LiteRT, whose C++
    prints past every log setting ("fully_quantize: 0, ...", "Created TensorFlow Lite XNNPACK
    delegate for CPU"): a binary's stderr is its own one-line errors."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        yield
    else:
        with _stderr_to_devnull():
            yield


_ARGV = _command_line(sys.argv)  # the flagfiles read once, for the two settings below
onednn.choose(_onednn_choice(_ARGV))
_TENSORFLOW_LOGS = _wants_tensorflow_logs(_ARGV)
if _TENSORFLOW_LOGS or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    startup.import_tensorflow()
else:
    # 3: errors too, e.g. the "failed call to cuInit" of a machine without a GPU, which a
    # caller's own TF_CPP_MIN_LOG_LEVEL=2 would let through. Our errors are our own lines.
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    # TensorFlow's Python-side INFO/WARNING chatter (checkpoint sharding, retracing notes).
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    _import_tensorflow_quietly()

import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import logging as absl_logging  # noqa: E402

from mnist_tf.errors import MnistTfError, SettingError, first_line  # noqa: E402


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
        if not _TENSORFLOW_LOGS:
            # TensorFlow logs INFO lines through absl (e.g. on every checkpoint save).
            absl_logging.set_verbosity(absl_logging.WARNING)
        try:
            main(argv)  # absl exits with whatever main returns: keep it None (status 0)
        except SettingError as e:  # the library names its settings; here they are flags
            fail(f"--{e.setting} {e.problem}", status=2)
        except MnistTfError as e:
            fail(str(e))
        except OSError as e:  # disk full, permission denied, unreadable path
            fail(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
        except tf.errors.OpError as e:  # the same through tf.io.gfile, e.g. an unwritable --logdir
            fail(f"{first_line(e)} ({type(e).__name__})")
        except KeyboardInterrupt:
            fail("interrupted", status=130)

    app.run(guarded_main, flags_parser=_parse_flags)
