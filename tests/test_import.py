"""Importing mnist_tf is a plain import: the environment and file descriptor 2 stay as they were.

The quieting of TensorFlow's start-up belongs to the binaries (``bin/_app.py``); a user who
imports the library in a notebook or another program must see TensorFlow as it is. What the
binaries do call (``bin/_app.py``: the ``--onednn`` choice, then
``mnist_tf.startup.import_tensorflow``) is checked in a new process too.
"""

import json
import subprocess
import sys

from binaries import ROOT, child_env

# Runs in a fresh interpreter: notes the environment, what fd 2 is and every dup2/close onto
# it, imports IMPORT (TensorFlow, or the package and every module in it), and reports.
SCRIPT = r"""
import json, os, sys

environ, stat, stderr = dict(os.environ), os.fstat(2), sys.stderr
touched = []
real_dup2, real_close = os.dup2, os.close

def dup2(fd, fd2, *args, **kwargs):
    if fd2 == 2:
        touched.append(f"dup2({fd}, 2)")
    return real_dup2(fd, fd2, *args, **kwargs)

def close(fd):
    if fd == 2:
        touched.append("close(2)")
    return real_close(fd)

os.dup2, os.close = dup2, close
IMPORT
os.dup2, os.close = real_dup2, real_close

after = os.fstat(2)
print(json.dumps({
    "modules": modules,
    "tensorflow_imported": "tensorflow" in sys.modules,
    "environ_changed": {k: [environ.get(k), os.environ.get(k)]
                        for k in set(environ) | set(os.environ)
                        if environ.get(k) != os.environ.get(k)},
    "fd2_same_file": [stat.st_dev, stat.st_ino, stat.st_mode] == [
        after.st_dev, after.st_ino, after.st_mode],
    "sys_stderr_same": sys.stderr is stderr,
    "fd2_touched": touched,
}))
"""
TENSORFLOW = "import tensorflow\nmodules = ['tensorflow']"
# A binary's import of TensorFlow (mnist_tf/startup.py), in a new interpreter: no full
# collection during it, the collector on after it, the import's objects frozen (a second call
# changes nothing), and at exit what is left frozen too before the interpreter's last
# collections (AT_EXIT, registered first, runs after startup's own exit hook).
STARTUP = r"""
import atexit, gc, json, os, sys
from mnist_tf import onednn, startup

def at_exit():
    print(json.dumps({"unfrozen_at_exit": len(gc.get_objects())}))

atexit.register(at_exit)
# As `python bin/train.py --onednn=off --flagfile=F -- --onednn=off` starts, F holding --onednn=on:
# bin/_app.py reads --onednn (the flagfile's, given last before "--") and imports TensorFlow.
import tempfile
with tempfile.NamedTemporaryFile("w", suffix=".flags", delete=False) as flagfile:
    flagfile.write("# a recipe\n--onednn=on\n")
sys.argv = ["bin/train.py", "--onednn=off", f"--flagfile={flagfile.name}", "--", "--onednn=off"]
sys.path.insert(0, "bin")
import _app
os.remove(flagfile.name)
frozen = gc.get_freeze_count()
startup.import_tensorflow()
onednn.choose("off")  # too late: changes nothing
garbage_to_be = [[] for _ in range(1000)]  # made after the import: not frozen until exit
print(json.dumps({"tensorflow_imported": "tensorflow" in sys.modules,
                  "full_collections": gc.get_stats()[2]["collections"],
                  "enabled": gc.isenabled(), "frozen": frozen,
                  "frozen_again": gc.get_freeze_count(), "unfrozen": len(gc.get_objects()),
                  "onednn": onednn.enabled(), "variable": os.environ[onednn.VARIABLE],
                  "note": onednn.mismatch("off")}))
"""
LIBRARY = """import importlib, pkgutil
import mnist_tf, os
modules = ["mnist_tf"] + [m.name for m in pkgutil.walk_packages(mnist_tf.__path__, "mnist_tf.")]
for name in modules:
    importlib.import_module(name)"""


def test_importing_the_library_leaves_the_environment_and_stderr_as_they_were():
    # TensorFlow sets a few variables of its own when imported (TF2_BEHAVIOR, ...): a bare
    # `import tensorflow`, run alongside in the same environment, says which. Both run without
    # TF_CPP_MIN_LOG_LEVEL: a caller's value would hide a library that sets the same.
    # The binaries' import (STARTUP) runs alongside: a new process is what it is about.
    runs = [subprocess.Popen([sys.executable, "-c", script], env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
            for script in (SCRIPT.replace("IMPORT", TENSORFLOW),
                           SCRIPT.replace("IMPORT", LIBRARY), STARTUP)]
    lines = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
        lines.append(out.strip().splitlines())
    tensorflow, library = (json.loads(printed[-1]) for printed in lines[:2])
    startup, at_exit = (json.loads(line) for line in lines[2][-2:])
    assert len(library["modules"]) > 20 and library["tensorflow_imported"], library["modules"]
    assert library["environ_changed"] == tensorflow["environ_changed"]
    assert library["fd2_same_file"] and library["sys_stderr_same"]
    assert library["fd2_touched"] == tensorflow["fd2_touched"] == []

    assert startup["tensorflow_imported"] and startup["enabled"]
    assert startup["full_collections"] == 0
    assert startup["frozen"] > 100_000 and startup["frozen_again"] == startup["frozen"]
    assert startup["unfrozen"] >= 1000 and at_exit["unfrozen_at_exit"] == 0
    # --onednn=on from a flagfile reaches TensorFlow's kernels (on this x86 wheel, whatever the
    # CPU); a choice made after the import is reported, not taken.
    assert startup["onednn"] is True and startup["variable"] == "1"
    assert startup["note"].startswith("--onednn=off has no effect here: TensorFlow was imported")
