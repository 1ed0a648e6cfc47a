"""A training run: its directory, its settings, and whether it starts afresh or resumes.

A run lives in one logdir::

    <logdir>/config.json       the run's TrainConfig (what --resume reloads)
    <logdir>/checkpoints/      ckpt-N (or config.checkpoint_dir, saved in config.json)
    <logdir>/train|validation|test/   TensorBoard event files
    <logdir>/metrics.json      the final figures
    <logdir>/.lock             the PID of the trainer that owns the run while it runs

One trainer per run: a trainer holds an exclusive lock on ``<logdir>/.lock`` for
its whole life (``lock.LogdirLock``), released by the kernel however the process
ends; a second trainer is refused with the first one's PID.

Resume policy (:func:`check_run`, under the lock; ``bin/train.py`` calls it
before it prints anything too): a logdir that holds a run is refused unless
resuming; resuming reloads the saved config, with the settings the user gave
explicitly on top (e.g. more epochs). A finished run (its metrics.json written
for as many epochs as asked) is left alone; fewer epochs than the run has done
is refused. A run killed before its first checkpoint starts again from the
beginning with its saved config. What killed saves and exports left behind is
removed (:func:`remove_leftovers`), and TensorBoard events the resumed run will
write again are purged (``event_purge``).

Under ``MultiWorkerMirroredStrategy`` only the chief keeps what it writes; the
other workers write into temporary directories of their own (saving is a
collective operation: they must take part in it).
"""

import datetime
import os

import tensorflow as tf

from mnist_tf import distribute
from mnist_tf.errors import CheckpointError, SettingError
from mnist_tf.training import checkpoint_repair, checkpoints, config as config_lib, json_files
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.event_purge import PURGE_TMP
from mnist_tf.training.lock import LogdirLock
from mnist_tf.training.report import METRICS_FILE

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


def run_config(logdir: str, resume: bool, settings: dict, given=()) -> TrainConfig:
    """The run's validated config.

    Args:
      logdir: the run's directory.
      resume: take the config saved in ``<logdir>/config.json``...
      settings: ...with ``settings[name]`` on top for each name in ``given``; a
        new run takes ``settings`` whole (absent names keep their defaults).
      given: the settings the user gave explicitly.

    Raises:
      CheckpointError: resuming, and ``logdir`` holds no config.json.
      SettingError: a value out of range.
    """
    if not resume:
        return TrainConfig(**settings).validate()
    path = os.path.join(logdir, CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        raise CheckpointError(f"{path} not found: {logdir} is not a run directory to resume")
    saved = config_lib.load(path)
    return saved.replace(**{name: settings[name] for name in given}).validate()


def checkpoint_dir(config: TrainConfig, logdir: str) -> str:
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

    def __init__(self, config: TrainConfig, logdir: str, strategy):
        self.chief = distribute.is_chief(strategy)
        self.checkpoint_dir = checkpoint_dir(config, logdir)
        self.trial_id = os.path.basename(os.path.normpath(logdir))
        self.logdir = distribute.write_dir(logdir, strategy)
        self.own_checkpoint_dir = (self.checkpoint_dir if self.chief
                                   else os.path.join(self.logdir, "checkpoints"))


def refuse_a_second_run(logdir: str, resume: bool) -> None:
    """A new run in a logdir that holds one would mix two runs' files: refused.

    Raises:
      CheckpointError: ``logdir`` holds a run's config.json and ``resume`` is False.
    """
    if not resume and tf.io.gfile.exists(os.path.join(logdir, CONFIG_FILE)):
        raise CheckpointError(f"{logdir} already holds a run: resume it, or choose a new logdir")


def make_dirs(dirs: RunDirs) -> None:
    """Creates the directories this process writes: an unwritable path fails before training."""
    for directory in (dirs.logdir, dirs.own_checkpoint_dir):
        tf.io.gfile.makedirs(directory)


def check_run(logdir: str, config: TrainConfig, resume: bool, lock: bool = True):
    """Whether a trainer may work on ``logdir``: the checks made before anything is written.

    Args:
      logdir: the run's directory.
      config: the run's config, as it will be trained (``run_config``).
      resume: continuing the run in ``logdir``.
      lock: check that no live trainer owns ``logdir`` (the chief's check).

    Returns:
      The run's metrics.json when it is finished (resumed with no more epochs to
      train: nothing to do), else None.

    Raises:
      LogdirInUseError: a live trainer owns ``logdir`` (its PID named).
      CheckpointError: ``logdir`` holds a run and ``resume`` is False.
      SettingError: ``epochs`` is below the epochs the run has done.
    """
    if lock:
        with LogdirLock(logdir):
            pass
    refuse_a_second_run(logdir, resume)
    if not resume:
        return None
    metrics_path = os.path.join(logdir, METRICS_FILE)
    metrics = json_files.read_json(metrics_path) if tf.io.gfile.exists(metrics_path) else None
    done = metrics.get("epochs", 0) if isinstance(metrics, dict) else 0
    newest = checkpoint_repair.newest_intact(checkpoint_dir(config, logdir))  # or refused
    done = max(done, checkpoints.epochs_done(newest) if newest else 0)
    if config.epochs < done:
        raise SettingError("epochs", f"must be at least {done}, the epochs {logdir} has done "
                                     f"already (got {config.epochs}); its record is unchanged")
    if newest:
        refuse_a_new_batching_mid_epoch(logdir, config, newest)
    # Finished: its metrics.json is of as many epochs as asked (a later session killed before
    # writing a new one leaves an older metrics.json: that run is not finished).
    finished = isinstance(metrics, dict) and metrics.get("epochs") == config.epochs == done
    return metrics if finished else None


# The settings that say which images the batches of an epoch hold: a checkpoint saved after
# n batches of an epoch resumes at batch n + 1 of the same permutation and batching.
BATCHING = ("batch_size", "steps_per_epoch", "validation_split", "seed")


def refuse_a_new_batching_mid_epoch(logdir: str, config: TrainConfig, prefix: str) -> None:
    """Raises SettingError when ``prefix`` was saved inside an epoch and ``config`` batches
    that epoch differently from the run's saved config: the resumed epoch would repeat some
    images and skip others. At an epoch's end any of them may change."""
    n = checkpoints.batches_done(prefix)
    if n == 0:
        return
    path = os.path.join(logdir, CONFIG_FILE)
    if not tf.io.gfile.exists(path):  # a library caller's run without one: nothing to compare
        return
    saved = config_lib.load(path)
    for name in BATCHING:
        if getattr(config, name) != getattr(saved, name):
            raise SettingError(name, f"cannot change from {getattr(saved, name)} to "
                                     f"{getattr(config, name)} inside an epoch: {prefix} was "
                                     f"saved after {n} batches of epoch "
                                     f"{checkpoints.epochs_done(prefix) + 1}; resume with "
                                     f"{getattr(saved, name)}")


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
