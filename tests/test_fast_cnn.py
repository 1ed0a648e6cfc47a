"""The speedrun's network (``models.fast_cnn``): shapes, parameter count, and equality with its
Keras twin (``keras_oracle/twins.py``) given the same weights, in float32 and under
mixed_bfloat16."""

import mnist_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_oracle import twins as keras_twins

from mnist_tf import models, precision
from training_helpers import randomize_batch_norm


def _pair(policy=None):
    ours = models.get("fast_cnn", seed=1)
    if policy:
        precision.set_policy(ours, policy)
    models.build(ours)
    randomize_batch_norm(ours)  # non-trivial BN statistics and affine parameters
    theirs = keras_twins.make_twin("fast_cnn", policy=policy)
    return ours, keras_twins.copy_weights(ours, theirs)


def _images(n=8):
    return np.random.default_rng(2).random((n, 28, 28, 1), dtype=np.float32)


def test_shapes_and_parameter_count_as_documented():
    model = models.build(models.get("fast_cnn"))
    assert models.count_params(model) == 66_154
    assert keras_twins.TWINS["fast_cnn"]().count_params() == 66_154 + 320
    assert model(tf.zeros((3, 28, 28, 1))).shape == (3, 10)
    with pytest.raises(ValueError, match="no dropout"):
        models.get("fast_cnn", dropout_rate=0.5)


def test_logits_moving_statistics_and_gradients_equal_the_keras_twin():
    ours, theirs = _pair()
    x, y = _images(), np.arange(8) % 10
    np.testing.assert_allclose(ours(x), theirs(x, training=False), atol=1e-5)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        ours_loss = loss(y, ours(x, training=True))
    grads = tape.gradient(ours_loss, ours.trainable_variables)
    with tf.GradientTape() as tape:
        keras_loss = loss(y, theirs(x, training=True))
    keras_grads = tape.gradient(keras_loss, [w.value for w in theirs.trainable_weights])
    np.testing.assert_allclose(ours_loss, keras_loss, rtol=1e-5)
    assert len(grads) == len(keras_grads) == 11  # 3 kernels, 3 × (γ, β), dense kernel and bias
    for g, k in zip(grads, keras_grads):
        np.testing.assert_allclose(g, k, atol=1e-4 * max(1.0, float(np.max(np.abs(k)))))
    for a, b in zip(keras_twins.ours_in_keras_order(ours), theirs.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)  # moving stats updated alike


def test_bfloat16_logits_equal_the_keras_twin_under_the_same_policy():
    ours, theirs = _pair("mixed_bfloat16")
    x = _images()
    mine = precision.cast_logits(ours(x, training=False))
    keras_logits = tf.cast(theirs(x, training=False), tf.float32)
    np.testing.assert_allclose(mine, keras_logits, atol=0.05)  # bfloat16: 8 bits of mantissa
    assert ours.layers[0].kernel.dtype == tf.float32  # float32 master weights
