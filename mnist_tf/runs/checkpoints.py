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
never a torn one; ``checkpoint_repair.remove_partial_saves`` deletes what such a
save left.

Finding the intact checkpoints and repairing after a crash is
``checkpoint_repair``; loading a trained model for evaluate, predict and export
is ``saved_runs``.
"""

import os
import re

import tensorflow as tf

from mnist_tf.errors import CheckpointError, first_line


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


def _parts(state, optimizer=None) -> dict:
    """The objects a checkpoint holds, by name: all of a ``TrainState``."""
    return dict(model=state.model, optimizer=optimizer or state.optimizer,
                state=state.progress, metrics=state.epoch_metrics,
                step_metrics=state.step_metrics, totals=state.totals)


def make_manager(directory: str, state, max_to_keep: int = 3):
    """A ``tf.train.CheckpointManager`` over a ``TrainState``: model, optimizer, progress,
    metrics and totals.

    Checkpoints are numbered 1, 2, ... by ``Run.save``, which goes on from the number of
    the checkpoint it restored, so a resumed run goes on numbering where it stopped.
    """
    return tf.train.CheckpointManager(tf.train.Checkpoint(**_parts(state)), directory,
                                      max_to_keep=max_to_keep, checkpoint_name="ckpt")


REQUIRED = ("model", "optimizer", "state")   # the rest is taken when present (older files)
_LOSS_SCALE_KEY = "optimizer/dynamic_scale/.ATTRIBUTES/VARIABLE_VALUE"


def restore_run(prefix: str, state) -> str:
    """Restores a ``TrainState`` from ``prefix``; returns a note for the log, or "".

    The model, optimizer and progress must all be in the checkpoint; the metrics and
    totals are taken when present. A run resumed under another precision policy is
    restored too: from float32 or bfloat16 to ``mixed_float16``, the optimizer's
    state goes into the ``LossScaleOptimizer``'s inner optimizer and the loss scale
    starts afresh; from ``mixed_float16`` to another policy, the inner optimizer's
    state is taken and the loss scale dropped.
    """
    optimizer, note = state.optimizer, ""
    saved_scaled = tf.compat.v1.train.NewCheckpointReader(prefix).has_tensor(_LOSS_SCALE_KEY)
    scaled = hasattr(optimizer, "inner_optimizer")
    if scaled and not saved_scaled:
        optimizer = optimizer.inner_optimizer
        note = "the precision is now mixed_float16: its loss scale starts afresh"
    elif saved_scaled and not scaled:
        optimizer = tf.train.Checkpoint(inner_optimizer=optimizer)
        note = "the precision is no longer mixed_float16: its loss scale is dropped"
    parts = _parts(state, optimizer)
    restore(tf.train.Checkpoint(**{name: parts[name] for name in REQUIRED}), prefix,
            "the run", partial=True)
    tf.train.Checkpoint(**{name: part for name, part in parts.items()
                           if name not in REQUIRED}).restore(prefix).expect_partial()
    return note


def epochs_done(prefix: str) -> int:
    """The epochs completed when the checkpoint ``prefix`` was written (read from the file)."""
    return int(tf.compat.v1.train.NewCheckpointReader(prefix).get_tensor(
        "state/epoch/.ATTRIBUTES/VARIABLE_VALUE"))


def batches_done(prefix: str) -> int:
    """The batches of the next epoch done when ``prefix`` was written: 0 at an epoch's end
    (and in a checkpoint older than :class:`RunTotals`)."""
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    key = "totals/batch/.ATTRIBUTES/VARIABLE_VALUE"
    return int(reader.get_tensor(key)) if reader.has_tensor(key) else 0


_NUMBERED = re.compile(r"^(.*)-(\d+)\.index$")


def number(prefix: str) -> int:
    """N of ``.../ckpt-N``; -1 for a prefix without a number."""
    match = _NUMBERED.match(os.path.basename(prefix) + ".index")
    return int(match.group(2)) if match else -1


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
