"""Classification metrics: correct counts, to add up across batches, then divide.

The predicted class is argmax_j z_j; softmax is monotonic, so logits and
probabilities give the same prediction and the same accuracy::

    accuracy = (1/B) Σ_b 1[argmax z_b = y_b]

The confusion matrix, confusion[t, p] = #{b : y_b = t and argmax z_b = p} (rows true,
columns predicted), is TensorFlow's own ``tf.math.confusion_matrix``: nothing to teach
in writing it again.
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
