"""Checkpoints: everything a killed run needs to carry on as if it had never stopped.

A checkpoint holds the model's variables (Dropout's random generator
included), the optimizer's slots and step counter, the run's progress
(``epoch``: epochs completed, and the seed), the last epoch's training and
validation metrics, the running sums of the current epoch and where in it the
run is (``RunTotals.batch``). The data order of epoch ``e`` is a pure function
of ``(seed, e)`` (see ``mnist_tf.data.pipeline``), so restoring the position
restores the data order too: a resumed run goes on from the batch after its
checkpoint and ends with the same weights as an uninterrupted run.

Writes are atomic: TensorFlow writes a checkpoint's shards under a temporary
name (``ckpt-N_temp/``) and renames them, and only then rewrites the small
``checkpoint`` index file (itself written to ``checkpoint.tmp<hex>`` and
renamed). A run killed mid-save therefore still finds its previous checkpoint,
never a torn one; :func:`remove_partial_saves` deletes what such a save left.

Checkpoints are found from the files themselves, not only from the
``checkpoint`` index file: :func:`intact_checkpoints` lists every
``<name>-N.index`` whose data shards are all there and readable (every tensor
read, so a truncated or corrupted shard fails its checksum), newest first. A
deleted index file or a damaged newest checkpoint therefore costs one
checkpoint's work, not the run.
"""

import os
import re

import tensorflow as tf

from mnist_tf.errors import CheckpointError, first_line
from mnist_tf.training import config as config_lib


class RunState(tf.Module):
    """The run's progress and seed, as variables so that they live in the checkpoint."""

    def __init__(self, seed: int):
        super().__init__(name="run_state")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.seed = tf.Variable(seed, dtype=tf.int64, trainable=False, name="seed")


class EpochMetrics(tf.Module):
    """The last completed epoch's training and validation loss and accuracy (NaN: none yet).

    In the checkpoint so that a run resumed after its last epoch (killed during
    the final test or export) still reports them. Restored only where the
    checkpoint has them: checkpoints written before they existed still resume.
    """

    NAMES = ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy")

    def __init__(self):
        super().__init__(name="epoch_metrics")
        self.values = {name: tf.Variable(float("nan"), dtype=tf.float64, trainable=False,
                                         name=name) for name in self.NAMES}

    def record(self, **values) -> None:
        """``record(train_loss=..., train_accuracy=..., validation_loss=..., validation_accuracy=...)``."""
        for name in self.NAMES:
            self.values[name].assign(values[name])

    def as_dict(self) -> dict:
        """``{"train": {"loss", "accuracy"}, "validation": {"loss", "accuracy"}}`` as floats."""
        value = {name: float(v.numpy()) for name, v in self.values.items()}
        return {run: {"loss": value[f"{run}_loss"], "accuracy": value[f"{run}_accuracy"]}
                for run in ("train", "validation")}


class RunTotals(tf.Module):
    """Where the run is inside its epoch, and its figures summed over every session.

    ``batch``: batches of the current epoch done (a checkpoint every
    ``checkpoint_every_steps`` is mid-epoch); ``wall_seconds``, ``train_seconds``,
    ``train_images``: totals over all sessions up to this checkpoint (metrics.json's
    ``wall_seconds`` and ``train_images_per_second`` of a resumed run); ``saved_at``:
    the wall-clock time (``time.time()``) the checkpoint was written, which tells the
    TensorBoard events a resumed run will write again (``event_purge``) from
    those it keeps. Optional in a checkpoint, like :class:`EpochMetrics`: a
    checkpoint without them resumes at an epoch start with zero totals.
    """

    def __init__(self):
        super().__init__(name="run_totals")
        self.batch = tf.Variable(0, dtype=tf.int64, trainable=False, name="batch")
        self.values = {name: tf.Variable(0.0, dtype=tf.float64, trainable=False, name=name)
                       for name in ("wall_seconds", "train_seconds", "train_images", "saved_at")}

    def __getitem__(self, name) -> float:
        return float(self.values[name].numpy())


def make_manager(directory: str, model, optimizer, state: RunState, metrics: EpochMetrics,
                 step_metrics, totals: RunTotals, max_to_keep: int = 3):
    """A ``tf.train.CheckpointManager`` over the model, optimizer, run state and metrics.

    Checkpoints are numbered 1, 2, ... by ``TrainState.save``, which goes on from the
    number of the checkpoint it restored, so a resumed run goes on numbering where it stopped.
    """
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, state=state,
                                     metrics=metrics, step_metrics=step_metrics, totals=totals)
    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep,
                                      checkpoint_name="ckpt")


def restore_run(prefix: str, model, optimizer, state: RunState, metrics: EpochMetrics,
                step_metrics, totals: RunTotals) -> None:
    """Restores a run: the model, optimizer and state must all be in the checkpoint; the
    metrics and totals are taken when present (older checkpoints still resume)."""
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, state=state)
    restore(checkpoint, prefix, "the run", partial=True)
    tf.train.Checkpoint(metrics=metrics, step_metrics=step_metrics,
                        totals=totals).restore(prefix).expect_partial()


def epochs_done(prefix: str) -> int:
    """The epochs completed when the checkpoint ``prefix`` was written (read from the file)."""
    return int(tf.compat.v1.train.NewCheckpointReader(prefix).get_tensor(
        "state/epoch/.ATTRIBUTES/VARIABLE_VALUE"))


_NUMBERED = re.compile(r"^(.*)-(\d+)\.index$")


def number(prefix: str) -> int:
    """N of ``.../ckpt-N``; -1 for a prefix without a number."""
    match = _NUMBERED.match(os.path.basename(prefix) + ".index")
    return int(match.group(2)) if match else -1


def checkpoint_files(directory: str) -> list:
    """Every checkpoint prefix in ``directory``, found from its ``<name>-N.index`` files
    (and those the ``checkpoint`` index file names), newest first: by N, then by time."""
    if not tf.io.gfile.isdir(directory):
        return []
    found = {}
    for name in tf.io.gfile.listdir(directory):
        match = _NUMBERED.match(name)
        if match:
            found[os.path.join(directory, name[:-len(".index")])] = int(match.group(2))
    try:
        listed = tf.train.get_checkpoint_state(directory)
    except (tf.errors.OpError, ValueError):  # a garbled index file: the files still count
        listed = None
    for prefix in (listed.all_model_checkpoint_paths if listed else []):
        prefix = prefix if os.path.isabs(prefix) or "://" in prefix else \
            os.path.join(directory, prefix)
        if prefix not in found and tf.io.gfile.exists(prefix + ".index"):
            found[prefix] = number(prefix)

    def newest(prefix):
        return found[prefix], tf.io.gfile.stat(prefix + ".index").mtime_nsec

    return sorted(found, key=newest, reverse=True)


def damage(prefix: str):
    """Why the checkpoint ``prefix`` cannot be restored (one line), or None when it is intact.

    Every data shard its index names must exist, and every tensor must read back
    (TensorFlow checks each one's CRC32C): a truncated or corrupted shard is found
    here rather than half-way through a restore.
    """
    try:
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, KeyError, RuntimeError) as e:
        return first_line(e)
    return None


def intact_checkpoints(directory: str, on_damaged=None):
    """The intact checkpoints in ``directory``, newest first (a generator: each is checked
    only when reached). ``on_damaged(prefix, reason)`` is called for each one skipped."""
    for prefix in checkpoint_files(directory):
        reason = damage(prefix)
        if reason is None:
            yield prefix
        elif on_damaged is not None:
            on_damaged(prefix, reason)


def newest_intact(directory: str, log=None):
    """The newest intact checkpoint in ``directory``, or None when it holds none.

    A damaged newer one is skipped, with a line to ``log`` saying so.

    Raises:
      CheckpointError: ``directory`` holds checkpoints, but none is intact.
    """
    skipped = []
    prefix = next(intact_checkpoints(directory, lambda p, why: skipped.append((p, why))), None)
    if skipped and prefix is None:
        newest, why = skipped[0]
        raise CheckpointError(f"{newest}: cannot restore the run from it, the checkpoint is "
                              f"damaged ({why}), and no older intact checkpoint is left")
    if skipped and log is not None:
        names = ", ".join(os.path.basename(p) for p, _ in skipped)
        log(f"skipping damaged checkpoint(s) {names} ({skipped[0][1]}); "
            f"using the newest intact one, {os.path.basename(prefix)}")
    return prefix


def remove_partial_saves(directory: str) -> list:
    """Deletes what a save killed half-way left in ``directory``: ``<prefix>_temp/``
    shard directories and ``checkpoint.tmp<hex>`` index files. Returns their names."""
    if not tf.io.gfile.isdir(directory):
        return []
    removed = []
    for name in tf.io.gfile.listdir(directory):
        name = name.rstrip("/")
        path = os.path.join(directory, name)
        if name.endswith("_temp") and tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif name.startswith("checkpoint.tmp") and not tf.io.gfile.isdir(path):
            tf.io.gfile.remove(path)
        else:
            continue
        removed.append(name)
    return removed


def rewrite_index(directory: str, prefixes) -> None:
    """Writes the ``checkpoint`` index file anew, listing ``prefixes`` (newest first) so that
    ``tf.train.CheckpointManager`` keeps and deletes them as its own."""
    prefixes = list(prefixes)
    if prefixes:
        tf.compat.v1.train.update_checkpoint_state(directory, prefixes[0],
                                                   all_model_checkpoint_paths=prefixes[::-1])


def find_checkpoint(path: str) -> str:
    """The checkpoint prefix that ``path`` names: a prefix, a checkpoint dir or a run's logdir.

    In a directory, the newest intact checkpoint (:func:`intact_checkpoints`). For a run's logdir, the ``checkpoint_dir`` its config.json names comes first
    (a run trained with ``--checkpoint_dir``), then ``<logdir>/checkpoints``.
    """
    path = os.fspath(path)
    if tf.io.gfile.exists(path + ".index"):
        return path
    config = _readable_config(path)
    configured = [config.checkpoint_dir] if config and config.checkpoint_dir else []
    for directory in configured + [path, os.path.join(path, "checkpoints")]:
        found = checkpoint_files(directory)
        if found:  # the newest intact one; when none is, the newest (restoring names the damage)
            return next(intact_checkpoints(directory), found[0])
    if not tf.io.gfile.exists(path):
        raise CheckpointError(f"{path}: no such file or directory (expected a checkpoint, "
                              "a checkpoint directory or a run's logdir)")
    raise CheckpointError(f"{path}: no checkpoint found (expected ckpt-N.index files "
                          "here, in its checkpoints/ sub-directory or in the --checkpoint_dir "
                          "its config.json names)")


def _config_in(directory: str):
    """The run config in ``<directory>/config.json``, or None when there is none."""
    path = os.path.join(directory, "config.json")
    return config_lib.load(path) if tf.io.gfile.exists(path) else None


def _readable_config(directory: str):
    """:func:`_config_in`, with an unreadable config.json as None (finding a checkpoint must
    not depend on it)."""
    try:
        return _config_in(directory)
    except (CheckpointError, OSError, tf.errors.OpError):
        return None


def restore(checkpoint, prefix: str, what: str, partial: bool = False) -> None:
    """``checkpoint.restore(prefix)``, with a damaged or mismatched file as a one-line error.

    Args:
      checkpoint: a ``tf.train.Checkpoint``.
      prefix: the checkpoint to read, e.g. ``logs/run/checkpoints/ckpt-3``.
      what: named in the error, e.g. ``"the model"``.
      partial: the file may hold more than ``checkpoint`` (e.g. the optimizer, when
        only the model is wanted).
    """
    try:
        status = checkpoint.restore(prefix)
        if partial:
            status.expect_partial()
        status.assert_existing_objects_matched()
    # A truncated data shard surfaces as IndexError ("Read less bytes than requested").
    except (AssertionError, tf.errors.OpError, ValueError, IndexError, KeyError) as e:
        raise CheckpointError(f"{prefix}: cannot restore {what} from it, the checkpoint is "
                              f"damaged or from another network ({first_line(e)})")


def restore_model(model, path: str) -> str:
    """Loads only the model's variables from the checkpoint ``path`` names; returns the prefix."""
    prefix = find_checkpoint(path)
    restore(tf.train.Checkpoint(model=model), prefix, "the model", partial=True)
    return prefix


def run_config_for(path: str, prefix: str):
    """The ``config.json`` of the run a checkpoint belongs to, or None.

    Looks in ``path`` (what the user named: often the run's logdir), beside the
    checkpoint and one level up (``<logdir>/checkpoints/ckpt-3`` → ``<logdir>/config.json``).
    """
    directory = os.path.dirname(prefix)
    for candidate in (path, directory, os.path.dirname(directory)):
        config = _config_in(candidate)
        if config:
            return config
    return None


def load_model(path: str, model_name: str = None):
    """Builds the run's model and loads its weights from the checkpoint ``path`` names.

    Args:
      path: a checkpoint prefix, a checkpoint directory, or a run's logdir.
      model_name: which network (``mnist_tf.models.MODELS``); default: the run's
        ``config.json``, else the reference CNN.

    Returns:
      ``(model, prefix)``.
    """
    from mnist_tf import models

    prefix = find_checkpoint(path)
    if model_name is None:
        config = run_config_for(os.fspath(path), prefix)
        model_name = config.model if config else "keras_example_cnn"
    model = models.get(model_name)
    models.build(model)
    restore_model(model, prefix)
    return model, prefix
