"""Saved runs: a trained model read back from its checkpoint, for evaluate, predict and export.

The user names a checkpoint prefix, a checkpoint directory or a run's logdir;
:func:`find_checkpoint` turns it into the newest intact checkpoint
(``checkpoint_repair``), :func:`run_config_for` finds the run's ``config.json``
(which network it trained), and :func:`load_model` builds that network and
loads only its variables (not the optimizer's or the run's progress).
"""

import os

import tensorflow as tf

from mnist_tf.errors import CheckpointError
from mnist_tf.runs import checkpoint_repair, checkpoints
from mnist_tf.training import config as config_lib


def find_checkpoint(path: str) -> str:
    """The checkpoint prefix that ``path`` names: a prefix, a checkpoint dir or a run's logdir.

    In a directory, the newest intact checkpoint (``checkpoint_repair.intact_checkpoints``).
    For a run's logdir, the ``checkpoint_dir`` its config.json names comes first (a run
    trained with ``--checkpoint_dir``), then ``<logdir>/checkpoints``.
    """
    path = os.fspath(path)
    if tf.io.gfile.exists(path + ".index"):
        return path
    config = _readable_config(path)
    configured = [config.checkpoint_dir] if config and config.checkpoint_dir else []
    for directory in configured + [path, os.path.join(path, "checkpoints")]:
        found = checkpoint_repair.checkpoint_files(directory)
        if found:  # the newest intact one; when none is, the newest (restoring names the damage)
            return next(checkpoint_repair.intact_checkpoints(directory), found[0])
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


def restore_model(model, path: str) -> str:
    """Loads only the model's variables from the checkpoint ``path`` names; returns the prefix."""
    prefix = find_checkpoint(path)
    checkpoints.restore(tf.train.Checkpoint(model=model), prefix, "the model", partial=True)
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
