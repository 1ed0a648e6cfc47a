"""The training input: ``tf.data`` pipelines over MNIST held in memory.

Images stay uint8 ``[N, 28, 28]`` in one tensor (47 MB for the training set, not the
188 MB of float32). Each step gathers one batch by index and converts it in a single
vectorised op, as the Keras example does up front:

    x = float32(images[batch]) / 255 -> [B, 28, 28, 1] in [0, 1];  y = int32(labels[batch]) -> [B]

The shuffle order of an epoch is a pure function of ``(seed, epoch)``: a permutation from
``np.random.default_rng([seed, epoch])``. The same seed and epoch give the same batches
on any machine, so a run resumed at epoch ``e`` (even mid-epoch, with ``skip_batches``)
sees exactly the batches it would have seen. The last partial batch is kept, as Keras
keeps it, so an epoch is ``steps_per_epoch(n, batch_size) = ceil(n / batch_size)`` steps.
"""

import math

import numpy as np
import tensorflow as tf


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches in one epoch of ``n`` examples: ``ceil(n / batch_size)`` (last one partial)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return -(-n // batch_size)


def split_validation(images, labels, validation_split: float = 0.1):
    """Holds out the LAST ``validation_split`` of the examples, as ``model.fit`` does.

    Keras (``keras/src/trainers/data_adapters/array_slicing.py``) splits at
    ``floor(n * (1 - validation_split))`` without shuffling; so does this, so both
    validate on the same examples.

    Args:
      images: ``[N, ...]`` array.
      labels: ``[N]`` array.
      validation_split: fraction in ``[0, 1)``; 0 gives empty validation arrays.

    Returns:
      ``((x_train, y_train), (x_val, y_val))``, slices (views) of the inputs.

    Raises:
      ValueError: ``validation_split`` is outside ``[0, 1)``, or leaves no training example.
    """
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"{n} images but {len(labels)} labels")
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if n and not split_at:
        raise ValueError(f"validation_split={validation_split} leaves no training example "
                         f"of {n}")
    return (images[:split_at], labels[:split_at]), (images[split_at:], labels[split_at:])


def to_float(images) -> tf.Tensor:
    """uint8 images ``[N, H, W]`` -> float32 ``[N, H, W, 1]`` in [0, 1] (``x / 255``, as Keras)."""
    return tf.expand_dims(tf.cast(images, tf.float32) / 255.0, -1)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The example order of epoch ``epoch``: a permutation of ``range(n)``, int64 ``[n]``.

    Args:
      n: number of examples.
      seed: the run's seed (an int >= 0).
      epoch: the epoch number (an int >= 0); each epoch has its own order.
    """
    return np.random.default_rng([seed, epoch]).permutation(n)


def as_tensors(images, labels):
    """uint8 images and int32 labels as tensors, once: pass them to the datasets below for
    every epoch, so the 47 MB training array is not copied again each time."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    return tf.convert_to_tensor(images, tf.uint8), tf.cast(labels, tf.int32)


def _batches(images, labels, order: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches ``(to_float(images[i]), int32 labels[i])`` for index batches ``i`` of ``order``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    x, y = as_tensors(images, labels)

    def gather(index):
        return to_float(tf.gather(x, index)), tf.gather(y, index)

    return (tf.data.Dataset.from_tensor_slices(order.astype(np.int32))
            .batch(batch_size)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def train_dataset(images, labels, batch_size: int, seed: int, epoch: int,
                  skip_batches: int = 0) -> tf.data.Dataset:
    """One shuffled epoch of training batches, its order fixed by ``(seed, epoch)``.

    Args:
      images: uint8 ``[N, 28, 28]``.
      labels: integer ``[N]``.
      batch_size: examples per batch; the last batch holds the remainder.
      seed: the run's seed (int >= 0).
      epoch: which epoch (int >= 0): a different epoch is a different order.
      skip_batches: batches of this epoch already done (to resume mid-epoch).

    Returns:
      A dataset of ``(float32 [B, 28, 28, 1] in [0, 1], int32 [B])``, ``steps_per_epoch(N,
      batch_size) - skip_batches`` batches.
    """
    order = epoch_order(len(images), seed, epoch)[skip_batches * batch_size:]
    return _batches(images, labels, order, batch_size)


def eval_dataset(images, labels, batch_size: int) -> tf.data.Dataset:
    """The examples in order, batched, converted as :func:`train_dataset` converts them."""
    return _batches(images, labels, np.arange(len(images)), batch_size)
