"""A process's fixed cost: TensorFlow's import, and the interpreter's exit.

Both are the same for a 20-second speedrun and a 5-minute run, and much of both is Python's
cyclic garbage collector walking the objects TensorFlow's import makes (modules, functions, op
definitions: about half a million, none of them garbage, all alive until the process ends).
With the collector on, the import runs five full collections over them and the interpreter
runs more while it shuts down; measured on a 2-core Zen 3 (BUILD_NOTES.md → Where the time
goes): ~0.5 s of the import and ~0.6 s of the exit.

:func:`import_tensorflow` imports TensorFlow with the collector paused, then moves everything
alive into the collector's permanent generation (``gc.freeze``), which later collections do
not walk, and does the same once more at exit. Garbage made after the import (a run's graphs,
its tensors) is collected as usual while the process runs.
"""

import atexit
import contextlib
import gc
import sys


def import_tensorflow(context=None) -> None:
    """Imports TensorFlow as above, inside ``context`` (a context manager; e.g. one that keeps
    file descriptor 2 quiet). Does nothing when TensorFlow is already imported: the process is
    not new, and its other objects are not this function's to freeze."""
    if "tensorflow" in sys.modules:
        return
    gc.disable()
    try:
        with context or contextlib.nullcontext():
            import tensorflow  # noqa: F401
    finally:
        gc.enable()
    gc.freeze()
    atexit.register(gc.freeze)
