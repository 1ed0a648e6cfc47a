"""A full disk at any writer of a run — a checkpoint, the export, TensorBoard events,
config.json, metrics.json — as one line naming what was being written.

    one_line(then):      the block's ENOSPC (OSError, or TensorFlow's ResourceExhaustedError
                         "<path>; No space left on device") → DiskFullError:
                         "<path>: no space left on device; <then>"   (bin/export.py)
    raise_for_run(run, error):  the same for a training run (``Run.__exit__``): what the
                         failed write left half-written (``ckpt-N_temp/``, ``checkpoint.tmp*``,
                         ``*.json.tmp``) is removed first, and the message names the newest
                         checkpoint, which is intact

``<path>`` is what the user knows, not the temporary name the write went to:
``ckpt-3_temp/part-…`` is ``ckpt-3``, ``.export.tmp-…/variables/…`` is ``export``,
``metrics.json.tmp`` is ``metrics.json``. Every writer is atomic (a temporary name,
then a rename), so what a reader finds afterwards — ``--resume``, ``tf.saved_model.load``,
TensorBoard — is the previous complete file; an events file keeps its complete records
(a torn last one is skipped by TensorBoard and dropped by a resume's ``event_purge``).
"""

import contextlib
import errno
import os
import re

import tensorflow as tf

from mnist_tf.errors import MnistTfError
from mnist_tf.runs import layout

NO_SPACE = ("No space left on device", "Disk quota exceeded")

# A temporary name → the name the user knows (the first group, plus the second if any).
_TEMPORARY = (re.compile(r"^(.*/ckpt-\d+)_temp(?:/.*)?$"),         # a checkpoint's shards
              re.compile(r"^(.*/)checkpoint\.tmp[0-9a-f]*$"),       # its index file
              re.compile(r"^(.*/)\.([^/]+)\.tmp-[^/]*(?:/.*)?$"),   # an export being written
              re.compile(r"^(.*\.json)\.tmp$"))                     # config.json, metrics.json


class DiskFullError(MnistTfError):
    """A write failed because its filesystem is full (or the user's quota is used up)."""


def is_disk_full(error: BaseException) -> bool:
    """ENOSPC or EDQUOT, from Python's own I/O or from TensorFlow's (``tf.io.gfile``,
    checkpoints, summary writers)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(error, tf.errors.OpError) and any(s in error.message for s in NO_SPACE)


def written_path(error: BaseException) -> str:
    """The path the failed write was for, with a temporary name as the final one."""
    if isinstance(error, OSError):
        path = error.filename or "?"
    else:  # "{{function_node ...}} /run/ckpt-3_temp/part-...; No space left on device [Op:...]"
        message = re.sub(r"\{\{.*?\}\}", "", error.message, flags=re.S).strip()
        path = message.split(";")[0].split("\n")[0].strip()
    path = os.fspath(path)
    for pattern in _TEMPORARY:
        match = pattern.match(path)
        if match:
            return "".join(g for g in match.groups() if g).rstrip("/") or path
    return path


def one_line_error(error: BaseException, then: str, note: str = None) -> DiskFullError:
    """``"<path>: no space left on device; [<note>; ]<then>"`` for a disk-full ``error``."""
    return DiskFullError(f"{written_path(error)}: no space left on device; "
                         f"{note + '; ' if note else ''}{then}")


@contextlib.contextmanager
def one_line(then: str):
    """Turns a full disk inside the block into :class:`DiskFullError`
    ``"<path>: no space left on device; <then>"``."""
    try:
        yield
    except Exception as e:
        if not is_disk_full(e):
            raise
        raise one_line_error(e, then) from None


def raise_for_run(run, error) -> None:
    """When ``error`` (raised inside ``run``, a ``runs.run.Run``) is a full disk: on the chief,
    whose files are kept, removes what the failed write left (``layout.remove_leftovers``)
    and closes the TensorBoard writers, keeping what still fits (their files end on whole
    records); then raises :class:`DiskFullError` naming the newest checkpoint. Any other
    ``error`` (or None) is left alone."""
    if error is None or not is_disk_full(error):
        return
    note = None
    if run.dirs.chief:
        with contextlib.suppress(OSError, tf.errors.OpError):
            layout.remove_leftovers(run.dirs, log=lambda line: None)
        for writer in run.writers.values():
            with contextlib.suppress(tf.errors.OpError):
                writer.close()
        run.writers = {}
        newest = tf.train.latest_checkpoint(run.dirs.checkpoint_dir)
        note = (f"the newest checkpoint, {newest}, is intact" if newest
                else "no checkpoint was written yet")
    raise one_line_error(error, "free some space, then continue with --resume", note) from None
