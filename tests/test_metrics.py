"""correct_count and confusion_matrix against Keras and tf.math."""

import keras
import numpy as np
import tensorflow as tf

from mnist_tf import metrics


def _batch(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 10, n).astype(np.int32), rng.standard_normal((n, 10)).astype(np.float32)


def test_correct_count_over_the_batch_is_keras_accuracy_for_logits_and_probabilities():
    labels, logits = _batch()
    count = metrics.correct_count(labels, logits)
    assert count.dtype == tf.float32 and count.shape == ()
    expected = np.mean(keras.metrics.sparse_categorical_accuracy(labels, logits))
    np.testing.assert_allclose(float(count) / len(labels), expected, rtol=1e-7)
    assert float(metrics.correct_count(labels, tf.nn.softmax(logits))) == float(count)
    assert float(metrics.correct_count(labels[:, None], logits)) == float(count)


def test_correct_count_sums_across_batches():
    labels, logits = _batch()
    total = sum(float(metrics.correct_count(labels[i:i + 64], logits[i:i + 64]))
                for i in range(0, 200, 64))
    assert total == float(np.sum(np.argmax(logits, -1) == labels))


def test_confusion_matrix_rows_true_columns_predicted():
    labels, logits = _batch()
    predicted = np.argmax(logits, -1)
    confusion = metrics.confusion_matrix(labels, predicted)
    assert confusion.dtype == tf.int32 and confusion.shape == (10, 10)
    np.testing.assert_array_equal(confusion, tf.math.confusion_matrix(labels, predicted, 10))
    np.testing.assert_array_equal(metrics.confusion_matrix([2], [5], 10)[2, 5], 1)
    assert int(tf.reduce_sum(confusion)) == 200
    np.testing.assert_array_equal(metrics.confusion_matrix([], [], 3), np.zeros((3, 3)))
