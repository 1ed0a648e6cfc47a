"""Calling a binary's ``main()`` in this process, with its flags, for tests.

A ``bin/*.py`` process pays ~10 s of TensorFlow import; what only a process shows
(exit status, stderr with no traceback) is tested with ``binaries.run_binary``, the
rest through :func:`run_main`. Each call loads ``bin/<name>.py`` afresh under the
module name ``bin_<name>`` after deleting the flags the previous call defined (two
binaries define ``--model`` and ``--data_dir``), then parses the arguments and
calls ``main``. ``bin/_app.py`` sets ``TF_CPP_MIN_LOG_LEVEL`` when imported; the
caller's value is put back.
"""

import contextlib
import importlib.util
import io
import os

from absl import flags

import keras_twins_path  # noqa: F401  (puts bin/ on sys.path, for ``import _app``)

BIN = keras_twins_path.BIN


_DEFINED = set()  # the flags the binaries loaded here have defined


def _load(name: str):
    for flag in _DEFINED:
        if flag in flags.FLAGS:
            delattr(flags.FLAGS, flag)
    _DEFINED.clear()
    before = set(flags.FLAGS)
    saved = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    try:
        spec = importlib.util.spec_from_file_location(f"bin_{name}",
                                                      os.path.join(BIN, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        _DEFINED.update(set(flags.FLAGS) - before)
        if saved is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = saved
    return module


def run_main(name: str, *args):
    """(exit status, stdout, stderr) of ``bin/<name>.py args...`` run in this process.

    A library error (``MnistTfError``) propagates, as ``bin/_app.py`` would have turned it
    into its one line; ``_app.fail``'s exit is returned as the status.
    """
    module = _load(name)
    argv = flags.FLAGS([f"{name}.py", *args])
    out, err = io.StringIO(), io.StringIO()
    status = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            module.main(argv)
        except SystemExit as e:
            status = e.code
    return status, out.getvalue(), err.getvalue()
