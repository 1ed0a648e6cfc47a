"""Everything a run writes for TensorBoard, with fixed tags so runs compare.

Runs (sub-directories of the logdir) and their tags:

``train/``
  ``step/loss``, ``step/accuracy``, ``step/learning_rate``, ``step/images_per_second``
  (every ``log_every`` steps); ``epoch/loss``, ``epoch/accuracy`` (x = epoch);
  ``weights/<variable>``, ``gradients/<variable>`` histograms;
  images ``input/sample_batch`` and ``conv2d/filters``; the graph of the
  training step (Graphs dashboard).
``validation/``
  ``epoch/loss``, ``epoch/accuracy``.
``test/``
  ``epoch/loss``, ``epoch/accuracy`` (after the last epoch), images
  ``test/misclassified`` and ``test/confusion_matrix``.
the logdir itself
  the hparams of the run (the HParams dashboard reads them from the run's root,
  beside the three runs whose final metrics it shows).
"""

import os

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from mnist_tf.data import pipeline
from mnist_tf.training import images

RUNS = ("train", "validation", "test")
# The final metrics the hparams dashboard shows for each run, as (run, tag).
HPARAM_METRICS = (("train", "epoch/loss"), ("train", "epoch/accuracy"),
                  ("validation", "epoch/accuracy"),
                  ("validation", "epoch/loss"), ("test", "epoch/accuracy"),
                  ("test", "epoch/loss"))


def make_writers(logdir: str) -> dict:
    """One ``tf.summary`` file writer per run: ``{"train": ..., "validation": ..., "test": ...}``."""
    return {run: tf.summary.create_file_writer(os.path.join(logdir, run)) for run in RUNS}


def variable_name(variable) -> str:
    """``sequential/conv2d/kernel:0`` → ``conv2d/kernel`` (stable across runs)."""
    name = variable.name.split(":")[0]
    parts = name.split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else name


def step_scalars(writer, step: int, loss: float, accuracy: float, learning_rate: float,
                 images_per_second: float) -> None:
    with writer.as_default(step=step):
        tf.summary.scalar("step/loss", loss)
        tf.summary.scalar("step/accuracy", accuracy)
        tf.summary.scalar("step/learning_rate", learning_rate)
        tf.summary.scalar("step/images_per_second", images_per_second)


def epoch_scalars(writer, epoch: int, loss: float, accuracy: float) -> None:
    with writer.as_default(step=epoch):
        tf.summary.scalar("epoch/loss", loss)
        tf.summary.scalar("epoch/accuracy", accuracy)
    writer.flush()


def histograms(writer, step: int, variables, gradients) -> None:
    """Histograms of every weight and of its gradient."""
    with writer.as_default(step=step):
        for variable, gradient in zip(variables, gradients):
            name = variable_name(variable)
            tf.summary.histogram(f"weights/{name}", variable)
            tf.summary.histogram(f"gradients/{name}", gradient)


def input_images(writer, step: int, batch) -> None:
    """A sample of the training input exactly as the network sees it."""
    with writer.as_default(step=step):
        tf.summary.image("input/sample_batch", images.digit_grid(np.asarray(batch)[:32]),
                         description="32 training images as the network sees them: after the "
                                     "input pipeline (x / 255, and augmentation when it is on).")


def first_filters(writer, step: int, kernel) -> None:
    with writer.as_default(step=step):
        tf.summary.image("conv2d/filters", images.filter_grid(np.asarray(kernel)),
                         description="The first conv layer's 3x3 filters, each scaled "
                                     "to its own min..max (white = largest weight).")


def test_images(writer, step: int, test_images_, test_labels, result, limit: int = 64) -> None:
    """Misclassified test digits (predicted in red, true in green) and the confusion matrix.

    ``test_images_`` are the uint8 test images [N, 28, 28]; only the shown ones are converted.
    """
    wrong = np.flatnonzero(result.predictions != test_labels)[:limit]
    with writer.as_default(step=step):
        grid = images.labelled_digits(pipeline.to_float(tf.gather(test_images_, wrong)).numpy(),
                                      result.predictions[wrong], np.asarray(test_labels)[wrong])
        if grid is not None:
            tf.summary.image("test/misclassified", grid,
                             description=f"The first {len(wrong)} misclassified test digits: "
                                         "red = predicted class, green = true class.")
        tf.summary.image("test/confusion_matrix", images.confusion_image(result.confusion),
                         description="Rows: true class; columns: predicted class; "
                                     "each cell its count of test images.")
    writer.flush()


def step_graph(writer, concrete_function) -> None:
    """The training step's graph for the Graphs dashboard (its function library holds the
    step's ops: the layers run inside their modules' name scopes, so the dashboard shows
    one box per layer, ``sequential/conv2d``, ... to expand)."""
    with writer.as_default(step=0):
        tf.summary.graph(concrete_function.graph)
    writer.flush()


def epoch_end(writers, epoch: int, steps_per_epoch: int, progress, validation, kernel) -> None:
    """An epoch's ``epoch/*`` scalars (train, and validation when there is one) and the first
    conv layer's filters (at the epoch's last step)."""
    epoch_scalars(writers["train"], epoch, progress.loss, progress.accuracy)
    if validation.count:
        epoch_scalars(writers["validation"], epoch, validation.loss, validation.accuracy)
    first_filters(writers["train"], epoch * steps_per_epoch, kernel.numpy())


def _hparam_value(value):
    """The dashboard takes bools, numbers and strings; None (a setting left at its default,
    e.g. steps_per_epoch or checkpoint_dir) is shown as "default", anything else as text."""
    if value is None:
        return "default"
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def hparams(logdir: str, values: dict, trial_id: str) -> None:
    """The run's settings for the HParams dashboard, with the metrics to show beside them.

    Written into the logdir itself: the dashboard reads them from the run's root,
    beside the three runs whose final metrics it shows.
    """
    clean = {k: _hparam_value(v) for k, v in values.items()}
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        hp.hparams_config(
            hparams=[hp.HParam(k) for k in clean],
            metrics=[hp.Metric(tag, group=run, display_name=f"{run} {tag.split('/')[-1]}")
                     for run, tag in HPARAM_METRICS])
        hp.hparams(clean, trial_id=trial_id)
    writer.close()
