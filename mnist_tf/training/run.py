"""A training run: its directory, its settings, and whether it starts afresh or resumes.

A run lives in one logdir::

    <logdir>/config.json       the run's TrainConfig (what --resume reloads)
    <logdir>/checkpoints/      ckpt-N (or config.checkpoint_dir, saved in config.json)
    <logdir>/train|validation|test/   TensorBoard event files
    <logdir>/metrics.json      the final figures
    <logdir>/.lock             the PID of the trainer that owns the run while it runs

One trainer per run: a trainer holds an exclusive ``fcntl.flock`` on
``<logdir>/.lock`` for its whole life (:class:`LogdirLock`); the kernel releases
it when the process ends, however it ends (SIGKILL included), so a lock never
outlives its trainer. A second trainer is refused with the first one's PID.
``flock`` needs a local (or NFSv4) filesystem: on a ``gs://``-style logdir there is
no lock, the one file a run writes outside ``tf.io.gfile``.

Resume policy (:func:`check_run`, under the lock; ``bin/train.py`` calls it
before it prints anything too): a logdir that holds a run is refused unless
resuming; resuming reloads the saved config, with the settings the user gave
explicitly on top (e.g. more epochs). A finished run (its metrics.json written
for as many epochs as asked) is left alone; fewer epochs than the run has done
is refused. A run killed before its first checkpoint starts again from the
beginning with its saved config. What killed saves and exports left behind is
removed (:func:`remove_leftovers`), and TensorBoard events the resumed run will
write again are purged (:func:`purge_replayed_events`).

Under ``MultiWorkerMirroredStrategy`` only the chief keeps what it writes; the
other workers write into temporary directories of their own (saving is a
collective operation: they must take part in it).
"""

import datetime
import fcntl
import os

import tensorflow as tf
from tensorflow.core.util import event_pb2

from mnist_tf import distribute
from mnist_tf.errors import CheckpointError, MnistTfError, SettingError
from mnist_tf.training import checkpoints, config as config_lib, json_files
from mnist_tf.training.config import TrainConfig

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
LOCK_FILE = ".lock"


class LogdirInUseError(MnistTfError):
    """Another live trainer owns the logdir."""


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
        self.checkpoint_dir = config.checkpoint_dir or os.path.join(logdir, "checkpoints")
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


class LogdirLock:
    """An exclusive ``flock`` on ``<logdir>/.lock``, holding this process's PID.

    ``with LogdirLock(logdir):`` owns the run for the block; the kernel drops the
    lock when the process dies, so a SIGKILLed trainer never locks its run out.
    The file itself stays (deleting it would let two trainers lock two different
    files). No lock on a URL logdir (``gs://...``): ``flock`` needs a local filesystem.

    Raises:
      LogdirInUseError: (on entering) another process holds the lock; names its PID.
    """

    def __init__(self, logdir):
        self.logdir, self._fd = logdir, None
        self.path = os.path.join(logdir, LOCK_FILE) if logdir else None

    def __enter__(self):
        if self.logdir is None or "://" in self.logdir:  # None: not the chief, no lock
            return self
        os.makedirs(self.logdir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LogdirInUseError(f"{self.logdir} is in use by another trainer (PID {pid}): "
                                   "wait for it to end, or choose another logdir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the lock
            self._fd = None


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
    checkpoint_dir = config.checkpoint_dir or os.path.join(logdir, "checkpoints")
    newest = next(checkpoints.intact_checkpoints(checkpoint_dir), None)
    done = max(done, checkpoints.epochs_done(newest) if newest else 0)
    if config.epochs < done:
        raise SettingError("epochs", f"must be at least {done}, the epochs {logdir} has done "
                                     f"already (got {config.epochs}); its record is unchanged")
    return metrics if metrics and done == config.epochs else None


def remove_leftovers(dirs: RunDirs, log) -> None:
    """Deletes what killed saves and exports left: ``ckpt-N_temp/`` and ``checkpoint.tmp*``
    (``checkpoints.remove_partial_saves``), ``.export.tmp-*`` (an export being written) and
    ``*.json.tmp`` in the logdir. An ``.export.old-*`` (an export being replaced) is put back
    when the export it held is missing, else deleted."""
    removed = checkpoints.remove_partial_saves(dirs.checkpoint_dir)
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


PURGE_TMP = ".events.purge-tmp"  # no "tfevents" in the name: TensorBoard ignores it


def purge_replayed_events(logdir: str, after: float, log) -> None:
    """Deletes the TensorBoard events written after wall-clock time ``after``: those of a
    killed session after its last checkpoint, which the resumed run writes again.

    Why rewrite the files: ``tf.summary`` writers cannot delete, and TensorBoard's own
    repair (a ``SessionLog.START`` event purging steps ≥ the restart step) is an
    ``Event`` field no TF2 summary op writes, purges by step (the ``epoch/*`` tags
    count epochs, not steps), and is ignored by TensorBoard's fast Rust loader.
    Cutting by time is exact whatever a tag's x-axis: every event carries the time
    it was made, and the checkpoint the time it was written (``RunTotals.saved_at``).
    Each events file that holds later events is rewritten without them (a new file
    renamed over it, through ``tf.io.gfile``); a torn last record is dropped. A
    TensorBoard left running keeps what it had already read until it reloads.
    """
    dropped = 0
    for directory in [logdir] + [os.path.join(logdir, run) for run in ("train", "validation",
                                                                       "test")]:
        if not tf.io.gfile.isdir(directory):
            continue
        for name in sorted(tf.io.gfile.listdir(directory)):
            if "tfevents" in name:
                dropped += _purge_file(os.path.join(directory, name), after)
    if dropped:
        log(f"removed {dropped} TensorBoard event(s) written after the checkpoint; "
            "the resumed run writes them again")


def _purge_file(path: str, after: float) -> int:
    records, kept = 0, []
    try:
        for record in tf.data.TFRecordDataset(path):
            records += 1
            if event_pb2.Event.FromString(record.numpy()).wall_time <= after:
                kept.append(record.numpy())
    except tf.errors.DataLossError:  # killed mid-write: a torn last record
        records += 1
    if len(kept) == records:
        return 0
    if kept:
        tmp = os.path.join(os.path.dirname(path), PURGE_TMP)
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in kept:
                writer.write(record)
        tf.io.gfile.rename(tmp, path, overwrite=True)
    else:
        tf.io.gfile.remove(path)
    return records - len(kept)


def replay_cut(logdir: str, saved_at: float) -> float:
    """The time after which a resumed run's events are replayed: those after the checkpoint
    it restored (written at ``saved_at``; -inf with none: it starts from the beginning),
    but not those of a finished session (up to its metrics.json) that is now extended."""
    path = os.path.join(logdir, METRICS_FILE)
    if not tf.io.gfile.exists(path):
        return saved_at
    finished = json_files.read_json(path).get("finished_at")  # the file's mtime may be whole s
    return max(saved_at, finished or tf.io.gfile.stat(path).mtime_nsec / 1e9 + 1)
