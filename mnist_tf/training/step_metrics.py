"""Running training metrics kept on the device: what Keras's ``Mean`` and accuracy metrics do.

Each training step adds its batch to two sums, in the graph::

    sums += [L̄ · n, correct, n]        (L̄ the batch-mean loss, n the global batch size)

one for the whole epoch (the progress line, ``epoch/*`` scalars) and one for the
window since the last read (``step/*`` scalars: means over the last ``log_every``
steps). Reading them back to Python waits for the device to finish, so the
loop reads once every ``log_every`` steps (``read_and_reset_window``: one
transfer), not four numbers after every step — on a GPU, the difference between
a device that is always busy and one that idles while Python catches up.

The sums are float64 (exact counts far beyond an epoch) and live in the
checkpoint, so a run resumed mid-epoch keeps the epoch's figures.
"""

import tensorflow as tf

LOSS_SUM, CORRECT, COUNT = range(3)


class StepMetrics(tf.Module):
    """``epoch`` and ``window`` sums ``[Σ L̄·n, Σ correct, Σ n]``, float64 [3] each."""

    def __init__(self):
        super().__init__(name="step_metrics")
        self.epoch = tf.Variable(tf.zeros([3], tf.float64), trainable=False, name="epoch")
        self.window = tf.Variable(tf.zeros([3], tf.float64), trainable=False, name="window")

    def add(self, loss, correct, count) -> None:
        """Adds one step's batch-mean loss, correct predictions and example count (in the graph)."""
        with tf.name_scope("step_metrics"):  # one box in TensorBoard's graph
            batch = tf.stack([tf.cast(loss, tf.float64) * tf.cast(count, tf.float64),
                              tf.cast(correct, tf.float64), tf.cast(count, tf.float64)])
            self.epoch.assign_add(batch)
            self.window.assign_add(batch)

    @tf.function(input_signature=())
    def read_and_reset_window(self):
        """Both sums as one [2, 3] tensor (epoch, window); the window starts again from zero."""
        sums = tf.stack([self.epoch.read_value(), self.window.read_value()])
        with tf.control_dependencies([sums]):
            self.window.assign(tf.zeros([3], tf.float64))
        return sums

    def reset(self) -> None:
        """Zeroes both sums (at the start of an epoch)."""
        self.epoch.assign(tf.zeros([3], tf.float64))
        self.window.assign(tf.zeros([3], tf.float64))


def means(sums):
    """``(loss, accuracy, count)`` from one row of sums; NaN means when nothing was counted."""
    count = float(sums[COUNT])
    if not count:
        return float("nan"), float("nan"), 0.0
    return float(sums[LOSS_SUM]) / count, float(sums[CORRECT]) / count, count
