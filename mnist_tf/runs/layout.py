"""Where a run lives: its logdir's layout, and what a killed session left in it.

A run lives in one logdir::

    <logdir>/config.json       the run's TrainConfig (what --resume reloads)
    <logdir>/checkpoints/      ckpt-N (or config.checkpoint_dir, saved in config.json)
    <logdir>/train|validation|test/   TensorBoard event files
    <logdir>/metrics.json      the final figures
    <logdir>/.lock             the PID of the trainer that owns the run while it runs

One trainer per run: a trainer holds an exclusive lock on ``<logdir>/.lock`` for
its whole life (``lock.LogdirLock``), released by the kernel however the process
ends; a second trainer is refused with the first one's PID.

A run killed mid-save or mid-export leaves partial files; :func:`remove_leftovers`
clears them before the next session writes (the resume check is in ``resume``).

Under ``MultiWorkerMirroredStrategy`` only the chief keeps what it writes; the
other workers write into temporary directories of their own (saving is a
collective operation: they must take part in it).
"""

import datetime
import os

import tensorflow as tf

from mnist_tf import distribute
from mnist_tf.errors import CheckpointError
from mnist_tf.runs import checkpoint_repair
from mnist_tf.runs.event_purge import PURGE_TMP

CONFIG_FILE = "config.json"


def default_logdir(root: str = "logs") -> str:
    """``logs/20261126-184502``: one directory per run, sortable by start time."""
    return os.path.join(root, datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))


def newest_run(root: str = "logs") -> str:
    """The run under ``root`` whose config.json was written last (whatever the runs are named).

    Raises:
      CheckpointError: no run with a config.json under ``root``.
    """
    runs = [os.path.join(root, d) for d in (os.listdir(root) if os.path.isdir(root) else [])]
    runs = [run for run in runs if os.path.isfile(os.path.join(run, CONFIG_FILE))]
    if not runs:
        raise CheckpointError(f"no run with a {CONFIG_FILE} under {root}/ to resume; "
                              "name the run's logdir")
    return max(runs, key=lambda run: os.path.getmtime(os.path.join(run, CONFIG_FILE)))


def checkpoint_dir(config, logdir: str) -> str:
    """The run's checkpoints: ``config.checkpoint_dir``, by default ``<logdir>/checkpoints``."""
    return config.checkpoint_dir or os.path.join(logdir, "checkpoints")


def absolute(path):
    """A local path made absolute; None and URLs (``gs://...``) as they are."""
    return path if path is None or "://" in path else os.path.abspath(path)


class RunDirs:
    """Where this process writes: the chief the run's own directories, other workers temporary ones.

    Attributes:
      logdir: this process's logdir (the run's, on the chief).
      checkpoint_dir: the run's checkpoints, which every worker restores from.
      own_checkpoint_dir: where this process saves.
      chief: whether this process keeps what it writes.
      trial_id: the run's name in the HParams dashboard.
    """

    def __init__(self, config, logdir: str, strategy):
        self.chief = distribute.is_chief(strategy)
        self.checkpoint_dir = checkpoint_dir(config, logdir)
        self.trial_id = os.path.basename(os.path.normpath(logdir))
        self.logdir = distribute.write_dir(logdir, strategy)
        self.own_checkpoint_dir = (self.checkpoint_dir if self.chief
                                   else os.path.join(self.logdir, "checkpoints"))


def make_dirs(dirs: RunDirs) -> None:
    """Creates the directories this process writes: an unwritable path fails before training."""
    for directory in (dirs.logdir, dirs.own_checkpoint_dir):
        tf.io.gfile.makedirs(directory)


def remove_leftovers(dirs: RunDirs, log) -> None:
    """Deletes what killed saves and exports left: ``ckpt-N_temp/`` and ``checkpoint.tmp*``
    (``checkpoint_repair.remove_partial_saves``), ``.export.tmp-*`` (an export being written) and
    ``*.json.tmp`` in the logdir. An ``.export.old-*`` (an export being replaced) is put back
    when the export it held is missing, else deleted."""
    removed = checkpoint_repair.remove_partial_saves(dirs.checkpoint_dir)
    logdir = dirs.logdir
    for name in (tf.io.gfile.listdir(logdir) if tf.io.gfile.isdir(logdir) else []):
        name, path = name.rstrip("/"), os.path.join(logdir, name.rstrip("/"))
        if name.startswith(".export.old-"):
            old, export = os.path.join(path, "export"), os.path.join(logdir, "export")
            if tf.io.gfile.isdir(old) and not tf.io.gfile.exists(export):
                tf.io.gfile.rename(old, export)
        elif not (name.startswith(".export.tmp-") or name.endswith(".json.tmp")
                  or name == PURGE_TMP):
            continue
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        else:
            tf.io.gfile.remove(path)
        removed.append(name)
    if removed:
        log(f"removed what a killed save or export left: {', '.join(sorted(removed))}")
