"""Running the binaries in bin/ as a user would, for tests."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def run_binary(name, *args, env=None, timeout=600, **kwargs):
    """Runs ``python bin/<name>.py args...``; returns the CompletedProcess (text mode)."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "bin", f"{name}.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=child_env(env),
                          cwd=kwargs.pop("cwd", ROOT), **kwargs)


def start_binary(name, *args, env=None, **kwargs):
    """Starts ``python bin/<name>.py args...`` in the background (a Popen)."""
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "bin", f"{name}.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(env), cwd=kwargs.pop("cwd", ROOT), **kwargs)


def assert_one_line_error(result, *fragments):
    """A failed run: non-zero exit, one ``error:`` line on stderr naming ``fragments``, no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
