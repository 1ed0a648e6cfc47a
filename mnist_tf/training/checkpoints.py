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
    """The run's counters, as variables so that they live in the checkpoint."""

    def __init__(self, seed: int):
        super().__init__(name="run_state")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.seed = tf.Variable(seed, dtype=tf.int64, trainable=False, name="seed")


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
    for directory in (path, os.path.join(path, "checkpoints")):
        if tf.io.gfile.isdir(directory):
            latest = tf.train.latest_checkpoint(directory)
            if latest:
                return latest
    if not tf.io.gfile.exists(path):
        raise CheckpointError(f"{path}: no such file or directory (expected a checkpoint, "
                              "a checkpoint directory or a run's logdir)")
    raise CheckpointError(f"{path}: no checkpoint found (expected a 'checkpoint' index file "
                          "here or in its checkpoints/ sub-directory)")


def restore_model(model, path: str) -> str:
    """Loads only the model's variables from the checkpoint ``path`` names; returns the prefix."""
    prefix = find_checkpoint(path)
    try:
        tf.train.Checkpoint(model=model).restore(prefix).expect_partial().assert_existing_objects_matched()
    except (AssertionError, tf.errors.OpError, ValueError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{prefix}: cannot restore the model from it ({first_line})")
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
