"""Sparse categorical cross-entropy against keras.losses.sparse_categorical_crossentropy,
and with label smoothing against keras.losses.CategoricalCrossentropy(label_smoothing=...)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import losses


def _batch(seed=0, scale=3.0, batch=32, classes=10):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((batch, classes)) * scale).astype(np.float32)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    return labels, logits


def _loss_and_grad(fn, labels, y_pred, **kwargs):
    y_pred = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        loss = fn(labels, y_pred, **kwargs)
    return loss.numpy(), tape.gradient(loss, y_pred).numpy()


@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0])
def test_from_logits_matches_keras(scale):
    labels, logits = _batch(scale=scale)
    ours, g = _loss_and_grad(losses.sparse_categorical_crossentropy, labels, logits,
                             from_logits=True)
    theirs, k_g = _loss_and_grad(keras.losses.sparse_categorical_crossentropy, labels, logits,
                                 from_logits=True)
    assert ours.shape == (32,)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, k_g, atol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_from_probabilities_matches_keras_clipping(scale):
    labels, logits = _batch(scale=scale)
    probs = tf.nn.softmax(logits).numpy()  # many entries under 1e-7 at scale 30: clipped
    ours, g = _loss_and_grad(losses.sparse_categorical_crossentropy, labels, probs)
    theirs, k_g = _loss_and_grad(keras.losses.sparse_categorical_crossentropy, labels, probs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, k_g, rtol=1e-5, atol=1e-5)
    assert np.all(ours <= -np.log(1e-7) + 1e-3)  # clipping bounds the loss


def test_unnormalised_probabilities_are_renormalised_like_keras():
    probs = np.array([[0.2, 0.2, 0.2], [0.9, 0.9, 0.0]], np.float32)
    labels = np.array([0, 1])
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, probs),
                               keras.losses.sparse_categorical_crossentropy(labels, probs),
                               rtol=1e-6)


def test_extreme_logits_are_finite_and_equal_keras():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [1e4, 1e4, -1e4], [0, 0, 0]],
                      np.float32)
    labels = np.array([1, 1, 0, 2], np.int32)
    ours, g = _loss_and_grad(losses.sparse_categorical_crossentropy, labels, logits,
                             from_logits=True)
    theirs, k_g = _loss_and_grad(keras.losses.sparse_categorical_crossentropy, labels, logits,
                                 from_logits=True)
    assert np.all(np.isfinite(ours)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(ours, [2e4, 0.0, np.log(2), np.log(3)], rtol=1e-6)
    np.testing.assert_allclose(g, k_g, atol=1e-7)


def test_gradient_is_softmax_minus_onehot():
    labels, logits = _batch()
    _, g = _loss_and_grad(losses.sparse_categorical_crossentropy, labels, logits,
                          from_logits=True)
    np.testing.assert_allclose(g, tf.nn.softmax(logits) - np.eye(10)[labels], atol=1e-6)


def test_labels_of_shape_b_by_1_and_float64():
    labels, logits = _batch()
    flat = losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    column = losses.sparse_categorical_crossentropy(labels[:, None].astype(np.float32), logits,
                                                    from_logits=True)
    np.testing.assert_array_equal(flat, column)
    double = losses.sparse_categorical_crossentropy(labels, logits.astype(np.float64), True)
    assert double.dtype == tf.float64
    np.testing.assert_allclose(double, flat, rtol=1e-5)


def test_mean_and_scaled_forms():
    labels, logits = _batch()
    per_example = losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    keras_mean = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    np.testing.assert_allclose(np.mean(per_example), keras_mean, rtol=1e-6)
    scaled = losses.scaled_sparse_categorical_crossentropy(labels[:8], logits[:8], 32)
    np.testing.assert_allclose(scaled, np.sum(per_example[:8]) / 32, rtol=1e-6)
    smoothed = losses.sparse_categorical_crossentropy(labels, logits, True, label_smoothing=0.1)
    scaled = losses.scaled_sparse_categorical_crossentropy(labels, logits, 64, label_smoothing=0.1)
    np.testing.assert_allclose(scaled, np.sum(smoothed) / 64, rtol=1e-6)


def _keras_smoothed(labels, y_pred, epsilon, from_logits):
    """Keras's categorical cross-entropy of one-hot labels with label smoothing ε."""
    y_pred = tf.convert_to_tensor(y_pred)
    one_hot = tf.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
    return keras.losses.categorical_crossentropy(one_hot, y_pred, from_logits=from_logits,
                                                 label_smoothing=epsilon)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.3, 1.0])
@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0])
def test_label_smoothing_matches_keras_categorical_crossentropy(epsilon, scale):
    labels, logits = _batch(scale=scale)
    ours, g = _loss_and_grad(losses.sparse_categorical_crossentropy, labels, logits,
                             from_logits=True, label_smoothing=epsilon)
    theirs, k_g = _loss_and_grad(lambda y, z: _keras_smoothed(y, z, epsilon, True), labels, logits)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g, k_g, atol=1e-6)
    q = (1 - epsilon) * np.eye(10)[labels] + epsilon / 10
    np.testing.assert_allclose(g, tf.nn.softmax(logits) - q, atol=1e-6)  # ∂L/∂z = p − q
    keras_mean = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=epsilon)(
        np.eye(10, dtype=np.float32)[labels], logits)
    np.testing.assert_allclose(np.mean(ours), keras_mean, rtol=1e-5)


def test_label_smoothing_in_float64_and_on_probabilities():
    labels, logits = _batch()
    logits = logits.astype(np.float64)
    ours = losses.sparse_categorical_crossentropy(labels, logits, True, label_smoothing=0.1)
    np.testing.assert_allclose(ours, _keras_smoothed(labels, logits, 0.1, True), rtol=1e-13)
    probs = tf.nn.softmax(logits.astype(np.float32) / 3).numpy()
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, probs,
                                                                      label_smoothing=0.1),
                               _keras_smoothed(labels, probs, 0.1, False), rtol=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.sparse_categorical_crossentropy(labels, logits, True, label_smoothing=1.5)


def test_only_the_last_axis():
    labels, logits = _batch()
    with pytest.raises(ValueError, match="only axis=-1"):
        losses.sparse_categorical_crossentropy(labels, logits, axis=0)
