"""Running the binaries in bin/ for tests: in this process (``run_main``) or as a user would.

``run_main`` runs ``bin/<name>.py`` as ``python bin/<name>.py`` would (its ``_app.run(main)``
with absl's flag parsing, one-line errors and exit status) but in the test's own process, so
that it costs no TensorFlow import (~4 s a process). ``run_binary`` and ``start_binary``
launch a real process: only for what a process alone shows (signals, a second process, the
import of TensorFlow, what TensorFlow's C++ code prints on file descriptor 2).
"""

import contextlib
import io
import os
import runpy
import signal
import subprocess
import sys
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")


def child_env(env=None) -> dict:
    """The environment a binary runs in: the caller's, without ``TF_CPP_MIN_LOG_LEVEL``, plus ``env``.

    The binaries quiet TensorFlow themselves (``bin/_app.py``), and the tests check what a user
    who has not asked for TensorFlow's logs sees: an error is one line. The caller's
    ``TF_CPP_MIN_LOG_LEVEL`` is not passed on, since ``0`` is a user asking for all of
    TensorFlow's logs on stderr; a test about that variable passes it in ``env``.
    """
    full_env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    full_env.update(env or {})
    return full_env


def _default_sigint():
    """In the child, before it runs: SIGINT's default action. A suite started in the background
    by a shell (or by CI) runs with SIGINT ignored, a child inherits that, and Python then
    never turns SIGINT into KeyboardInterrupt: the signal tests would wait in vain."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_binary(name, *args, env=None, timeout=600, **kwargs):
    """Runs ``python bin/<name>.py args...``; returns the CompletedProcess (text mode)."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "bin", f"{name}.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=child_env(env),
                          cwd=kwargs.pop("cwd", ROOT), preexec_fn=_default_sigint, **kwargs)


def start_binary(name, *args, env=None, **kwargs):
    """Starts ``python bin/<name>.py args...`` in the background (a Popen)."""
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "bin", f"{name}.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(env), cwd=kwargs.pop("cwd", ROOT),
                            preexec_fn=_default_sigint, **kwargs)


def assert_one_line_error(result, *fragments):
    """A failed run: non-zero exit, one ``error:`` line on stderr naming ``fragments``, no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def _bin_modules() -> list:
    """Names of the modules in ``sys.modules`` loaded from bin/ (``_app``, ``keras_twins``...)."""
    return [name for name, module in list(sys.modules.items())
            if os.path.dirname(os.path.abspath(getattr(module, "__file__", None) or "")) == BIN]


def _keras_state():
    """Keras's global dtype policy (None: follows floatx) and floatx, read without setting them
    (``keras.config.dtype_policy()`` would fix the policy at the current floatx)."""
    if "keras" not in sys.modules:
        return None
    from keras.src.backend.common import global_state
    import keras

    return global_state.get_global_attribute("dtype_policy"), keras.config.floatx()


def _restore_keras(state):
    """Clears what a binary left in Keras (its session, policy, floatx), then puts back ``state``."""
    if "keras" not in sys.modules:
        return
    from keras.src.backend.common import global_state
    import keras

    policy, floatx = state or (None, "float32")
    keras.backend.clear_session(free_memory=False)  # free_memory: a full gc.collect() each call
    keras.config.set_floatx(floatx)
    if policy is not None:
        global_state.set_global_attribute("dtype_policy", policy)


def run_main(name, *args, cwd=None, stdin=None, env=None) -> subprocess.CompletedProcess:
    """Runs ``bin/<name>.py args...`` in this process; returns a CompletedProcess (text mode).

    As ``run_binary`` does, but without a process: ``sys.argv`` is set and the file is run as
    ``__main__``, so absl parses the flags and ``_app.run`` turns errors into one line and an
    exit status (``SystemExit`` is caught for ``returncode``; an exception that escapes gives
    its traceback on stderr and status 1, as Python would). Each call starts from fresh
    flags: the absl flags a binary defines are removed afterwards, with bin/'s modules, so that
    the next call defines them again with their defaults. ``sys.stdout``/``sys.stderr`` are
    captured (not what C++ code writes on file descriptors 1 and 2). ``cwd`` (default: the
    repository), ``env`` (added to ``os.environ``, without ``TF_CPP_MIN_LOG_LEVEL`` as in
    ``child_env``), the logging levels, Keras's global policy and TensorFlow's op determinism
    (``--deterministic``) are restored afterwards.
    """
    from absl import app, flags
    from absl import logging as absl_logging
    import logging

    # TensorFlow's switch for --deterministic is process-wide; its public API can only set it
    from tensorflow.python.framework import config as tf_config

    app.define_help_flags()  # absl defines them once per process: keep them across calls
    flag_names, modules = set(flags.FLAGS), set(_bin_modules())
    saved_argv, saved_path, saved_cwd = sys.argv, list(sys.path), os.getcwd()
    saved_env = dict(os.environ)
    saved_levels = {name_: logging.getLogger(name_).level for name_ in ("tensorflow", "absl")}
    saved_verbosity = absl_logging.get_verbosity()
    keras_state = _keras_state()
    deterministic = tf_config.is_op_determinism_enabled()  # train.py --deterministic sets it
    if keras_state is not None:  # as in a new process: no policy yet, it follows floatx
        from keras.src.backend.common import global_state

        global_state.set_global_attribute("dtype_policy", None)
    path = os.path.join(BIN, f"{name}.py")
    out, err = io.StringIO(), io.StringIO()
    if isinstance(stdin, bytes):
        stdin = stdin.decode()
    returncode = 0
    try:
        run_env = child_env(env)
        os.environ.clear()
        os.environ.update(run_env)
        os.chdir(cwd or ROOT)
        sys.argv = [path, *args]
        sys.path.insert(0, BIN)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                _stdin(stdin):
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit as e:
                returncode = _exit_status(e.code, err)
            except BaseException:  # as an uncaught exception ends a process
                traceback.print_exc()
                returncode = 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        flags.FLAGS.unparse_flags()
        for flag in set(flags.FLAGS) - flag_names:
            delattr(flags.FLAGS, flag)
        for module in set(_bin_modules()) - modules:
            del sys.modules[module]
        for name_, level in saved_levels.items():
            logging.getLogger(name_).setLevel(level)
        absl_logging.set_verbosity(saved_verbosity)
        _restore_keras(keras_state)
        if not deterministic and tf_config.is_op_determinism_enabled():
            tf_config.disable_op_determinism()
    return subprocess.CompletedProcess([sys.executable, path, *args], returncode,
                                       out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _stdin(text):
    if text is None:
        yield
        return
    saved, sys.stdin = sys.stdin, io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


def _exit_status(code, err) -> int:
    """The status a process exits with for ``sys.exit(code)`` (a string is printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)
    return 1


def main_status(name, *args) -> tuple:
    """``(exit status, stdout, stderr)`` of :func:`run_main`."""
    result = run_main(name, *args)
    return result.returncode, result.stdout, result.stderr
