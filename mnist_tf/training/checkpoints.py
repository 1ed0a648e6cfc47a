"""Checkpoints: everything a killed run needs to carry on as if it had never stopped.

A checkpoint holds the model's variables (Dropout's random generator
included), the optimizer's slots and step counter, and the run's progress
(``epoch``: epochs completed). The data order of epoch ``e`` is a pure function
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

from mnist_tf.errors import CheckpointError


class RunState(tf.Module):
    """The run's counters and last epoch's metrics, as variables so that they live in the checkpoint.

    The metrics let a run resumed after its last epoch (killed during the final
    test or export) still report the training and validation figures.
    """

    METRICS = ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy")

    def __init__(self, seed: int):
        super().__init__(name="run_state")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.seed = tf.Variable(seed, dtype=tf.int64, trainable=False, name="seed")
        self.last_epoch = {name: tf.Variable(float("nan"), dtype=tf.float64, trainable=False,
                                             name=name) for name in self.METRICS}

    def record_epoch(self, epoch: int, **metrics) -> None:
        """Marks ``epoch`` epochs done, with that epoch's ``train_loss=...`` etc."""
        self.epoch.assign(epoch)
        for name in self.METRICS:
            self.last_epoch[name].assign(metrics[name])

    def history(self) -> dict:
        """``{"train": {"loss", "accuracy"}, "validation": {...}}`` of the last epoch (None: none)."""
        values = {name: float(v.numpy()) for name, v in self.last_epoch.items()}
        values = {name: None if value != value else value for name, value in values.items()}
        return {run: {"loss": values[f"{run}_loss"], "accuracy": values[f"{run}_accuracy"]}
                for run in ("train", "validation")}


def make_manager(directory: str, model, optimizer, state: RunState, max_to_keep: int = 3):
    """A ``tf.train.CheckpointManager`` over the model, optimizer and run state."""
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, state=state)
    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep,
                                      checkpoint_name="ckpt")


def find_checkpoint(path: str) -> str:
    """The checkpoint prefix that ``path`` names: a prefix, a checkpoint dir or a run's logdir."""
    path = os.fspath(path)
    if tf.io.gfile.exists(path + ".index"):
        return path
    for directory in (path, os.path.join(path, "checkpoints"), _configured_dir(path)):
        if directory is None:
            continue
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


def _configured_dir(logdir: str):
    """The ``checkpoint_dir`` a run's config.json names (a run trained with --checkpoint_dir)."""
    from mnist_tf.training import config as config_lib

    path = os.path.join(logdir, "config.json")
    return config_lib.load(path).checkpoint_dir if os.path.isfile(path) else None


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
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{prefix}: cannot restore {what} from it, the checkpoint is "
                              f"damaged or from another network ({first_line[:200]})")


def restore_model(model, path: str) -> str:
    """Loads only the model's variables from the checkpoint ``path`` names; returns the prefix."""
    prefix = find_checkpoint(path)
    restore(tf.train.Checkpoint(model=model), prefix, "the model", partial=True)
    return prefix


def run_config_for(prefix: str):
    """The ``config.json`` of the run a checkpoint belongs to, or None.

    Looks beside the checkpoint and one level up (``<logdir>/checkpoints/ckpt-3``
    → ``<logdir>/config.json``).
    """
    from mnist_tf.training import config as config_lib

    directory = os.path.dirname(prefix)
    for candidate in (directory, os.path.dirname(directory)):
        path = os.path.join(candidate, "config.json")
        if os.path.isfile(path):
            return config_lib.load(path)
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
        config = run_config_for(prefix)
        model_name = config.model if config else "keras_example_cnn"
    model = models.get(model_name)
    models.build(model)
    restore_model(model, prefix)
    return model, prefix
