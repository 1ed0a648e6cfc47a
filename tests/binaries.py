"""Running the binaries in bin/ as a user would, for tests."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_binary(name, *args, env=None, timeout=600, **kwargs):
    """Runs ``python bin/<name>.py args...``; returns the CompletedProcess (text mode)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, os.path.join(ROOT, "bin", f"{name}.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=kwargs.pop("cwd", ROOT), **kwargs)


def start_binary(name, *args, env=None, **kwargs):
    """Starts ``python bin/<name>.py args...`` in the background (a Popen)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "bin", f"{name}.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, cwd=kwargs.pop("cwd", ROOT), **kwargs)


def assert_one_line_error(result, *fragments):
    """A failed run: non-zero exit, one ``error:`` line on stderr naming ``fragments``, no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
