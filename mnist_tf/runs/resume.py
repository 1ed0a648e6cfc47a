"""The resume policy: the one check made before a run writes anything, and the run's config.

The rule, checked once per session by :func:`check` (under the run's lock):

- a logdir that already holds a run (its ``config.json`` or checkpoints) is refused
  unless resuming: two runs' files would mix;
- resuming reloads the saved config, with the settings the user gave explicitly on
  top (:func:`run_config`), e.g. more epochs;
- a finished run (its metrics.json written for as many epochs as asked) is left alone;
  fewer epochs than the run has done are refused;
- inside an epoch (a mid-epoch checkpoint) the settings that decide the epoch's
  batches (``BATCHING``) may not change: the resumed epoch would repeat some images
  and skip others. Anything else may (more epochs, another precision: see
  ``checkpoints.restore_run``).

A run killed before its first checkpoint starts again from the beginning with its
saved config.
"""

import os

import tensorflow as tf

from mnist_tf.errors import CheckpointError, SettingError
from mnist_tf.runs import checkpoint_repair, checkpoints, json_files, layout
from mnist_tf.runs.report import METRICS_FILE
from mnist_tf.training import config as config_lib

# The settings that say which images the batches of an epoch hold: a checkpoint saved after
# n batches of an epoch resumes at batch n + 1 of the same permutation and batching.
BATCHING = ("batch_size", "steps_per_epoch", "validation_split", "seed")


def run_config(logdir: str, resume: bool, settings: dict, given=()):
    """The run's validated ``TrainConfig``.

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
        return config_lib.TrainConfig(**settings).validate()
    path = os.path.join(logdir, layout.CONFIG_FILE)
    if not tf.io.gfile.exists(path):
        raise CheckpointError(f"{path} not found: {logdir} is not a run directory to resume")
    saved = config_lib.load(path)
    return saved.replace(**{name: settings[name] for name in given}).validate()


def check(logdir: str, config, resume: bool):
    """Whether this run may train in ``logdir`` (the module docstring's rule).

    Returns:
      The run's metrics.json when it is finished (nothing to train), else None.

    Raises:
      CheckpointError: ``logdir`` holds a run and ``resume`` is False.
      SettingError: ``epochs`` below the epochs done, or a batching change mid-epoch.
    """
    directory = layout.checkpoint_dir(config, logdir)
    if not resume:
        if (tf.io.gfile.exists(os.path.join(logdir, layout.CONFIG_FILE))
                or checkpoint_repair.checkpoint_files(directory)):
            raise CheckpointError(f"{logdir} already holds a run: resume it (--resume), or "
                                  "choose a new logdir")
        return None
    metrics_path = os.path.join(logdir, METRICS_FILE)
    metrics = json_files.read_json(metrics_path) if tf.io.gfile.exists(metrics_path) else None
    done = metrics.get("epochs", 0) if isinstance(metrics, dict) else 0
    newest = next(checkpoint_repair.intact_checkpoints(directory), None)
    done = max(done, checkpoints.epochs_done(newest) if newest else 0)
    if config.epochs < done:
        raise SettingError("epochs", f"must be at least {done}, the epochs {logdir} has done "
                                     f"already (got {config.epochs}); its record is unchanged")
    if newest:
        _refuse_a_new_batching_mid_epoch(logdir, config, newest)
    # Finished: its metrics.json is of as many epochs as asked (a later session killed before
    # writing a new one leaves an older metrics.json: that run is not finished).
    finished = isinstance(metrics, dict) and metrics.get("epochs") == config.epochs == done
    return metrics if finished else None


def _refuse_a_new_batching_mid_epoch(logdir: str, config, prefix: str) -> None:
    """SettingError when ``prefix`` was saved inside an epoch and ``config`` batches that
    epoch differently from the run's saved config."""
    n = checkpoints.batches_done(prefix)
    path = os.path.join(logdir, layout.CONFIG_FILE)
    if n == 0 or not tf.io.gfile.exists(path):  # a library caller's run may have no config.json
        return
    saved = config_lib.load(path)
    for name in BATCHING:
        if getattr(config, name) != getattr(saved, name):
            raise SettingError(name, f"cannot change from {getattr(saved, name)} to "
                                     f"{getattr(config, name)} inside an epoch: {prefix} was "
                                     f"saved after {n} batches of epoch "
                                     f"{checkpoints.epochs_done(prefix) + 1}; resume with "
                                     f"{getattr(saved, name)}")
