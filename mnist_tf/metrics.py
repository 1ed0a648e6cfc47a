"""Classification metrics: correct counts (to add up across batches, then divide), confusion matrix.

The predicted class is argmax_j z_j; softmax is monotonic, so logits and
probabilities give the same prediction and the same accuracy::

    accuracy = (1/B) Σ_b 1[argmax z_b = y_b]
    confusion[t, p] = #{b : y_b = t and argmax z_b = p}     (rows true, columns predicted)
"""

import tensorflow as tf

from mnist_tf.losses import sparse_labels


def correct_count(y_true, logits) -> tf.Tensor:
    """Number of correct predictions, a float32 scalar (exact up to 2**24), to sum across batches.

    Divided by the batch size it is ``keras.metrics.sparse_categorical_accuracy``
    averaged over the batch; logits or probabilities give the same count.
    """
    logits = tf.convert_to_tensor(logits)
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.reduce_sum(tf.cast(tf.equal(predicted, sparse_labels(y_true, logits)), tf.float32))


def confusion_matrix(y_true, y_pred_classes, num_classes=10) -> tf.Tensor:
    """int32 [num_classes, num_classes]: entry [t, p] counts examples of class t predicted as p.

    Args:
      y_true: true class ids [N] in [0, num_classes).
      y_pred_classes: predicted class ids [N] (already arg-maxed) in [0, num_classes).
      num_classes: C; 10 for MNIST.
    """
    labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
    predicted = tf.reshape(tf.cast(y_pred_classes, tf.int32), [-1])
    tf.debugging.assert_less(tf.maximum(labels, predicted), num_classes,
                             message="class id out of range")
    tf.debugging.assert_non_negative(tf.minimum(labels, predicted), message="negative class id")
    cells = num_classes * num_classes
    counts = tf.math.bincount(labels * num_classes + predicted, minlength=cells, maxlength=cells,
                              dtype=tf.int32)
    return tf.reshape(counts, [num_classes, num_classes])
