"""Checkpoints: everything a killed run needs to carry on as if it had never stopped.

A checkpoint holds the model's variables (Dropout's random generator
included), the optimizer's slots and step counter, the run's progress
(``epoch``: epochs completed, and the seed), the last epoch's training and
validation metrics and the running sums of the current epoch. The data order of epoch ``e`` is a pure function
of ``(seed, e)`` (see ``mnist_tf.data.pipeline``), so restoring the epoch
restores the data order too: a resumed run replays the interrupted epoch from
its start and ends with the same weights as an uninterrupted run.

Writes are atomic: TensorFlow writes a checkpoint's shards under a temporary
name and renames them, and only then rewrites the small ``checkpoint`` index
file (itself written to a temporary file and renamed). A run killed mid-save
therefore still finds its previous checkpoint, never a torn one.
"""

import os

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


def make_manager(directory: str, model, optimizer, state: RunState, metrics: EpochMetrics,
                 step_metrics, max_to_keep: int = 3):
    """A ``tf.train.CheckpointManager`` over the model, optimizer, run state and metrics."""
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, state=state,
                                     metrics=metrics, step_metrics=step_metrics)
    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep,
                                      checkpoint_name="ckpt")


def restore_run(prefix: str, model, optimizer, state: RunState, metrics: EpochMetrics,
                step_metrics) -> None:
    """Restores a run: the model, optimizer and state must all be in the checkpoint; the
    metrics are taken when present (checkpoints written before they existed still resume)."""
    restore(tf.train.Checkpoint(model=model, optimizer=optimizer, state=state), prefix,
            "the run", partial=True)
    tf.train.Checkpoint(metrics=metrics, step_metrics=step_metrics).restore(
        prefix).expect_partial()


def find_checkpoint(path: str) -> str:
    """The checkpoint prefix that ``path`` names: a prefix, a checkpoint dir or a run's logdir.

    For a run's logdir, the ``checkpoint_dir`` its config.json names comes first
    (a run trained with ``--checkpoint_dir``), then ``<logdir>/checkpoints``.
    """
    path = os.fspath(path)
    if tf.io.gfile.exists(path + ".index"):
        return path
    config = _readable_config(path)
    configured = [config.checkpoint_dir] if config and config.checkpoint_dir else []
    for directory in configured + [path, os.path.join(path, "checkpoints")]:
        if tf.io.gfile.isdir(directory):
            latest = tf.train.latest_checkpoint(directory)
            if latest:
                return latest
    if not tf.io.gfile.exists(path):
        raise CheckpointError(f"{path}: no such file or directory (expected a checkpoint, "
                              "a checkpoint directory or a run's logdir)")
    raise CheckpointError(f"{path}: no checkpoint found (expected a 'checkpoint' index file "
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
