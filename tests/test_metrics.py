"""correct_count against Keras."""

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


