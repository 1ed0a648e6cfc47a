"""The speedrun's network (``models.fast_cnn``): shapes, parameter count, equality with its
Keras twin (``keras_oracle/twins.py``) given the same weights, in float32 and under
mixed_bfloat16, and the pooling-before-ReLU order computing what ReLU-then-pool computes."""

import mnist_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_oracle import twins as keras_twins

from mnist_tf import models, precision


def _pair(policy=None):
    ours = models.get("fast_cnn", seed=1)
    if policy:
        precision.set_policy(ours, policy)
    models.build(ours)
    theirs = keras_twins.make_twin("fast_cnn", policy=policy)
    return ours, keras_twins.copy_weights(ours, theirs)


def _images(n=8):
    return np.random.default_rng(2).random((n, 28, 28, 1), dtype=np.float32)


def test_shapes_and_parameter_count_as_documented():
    model = models.build(models.get("fast_cnn"))
    assert models.count_params(model) == 215_194
    assert keras_twins.TWINS["fast_cnn"]().count_params() == 215_194
    assert model(tf.zeros((3, 28, 28, 1))).shape == (3, 10)
    with pytest.raises(ValueError, match="no dropout"):
        models.get("fast_cnn", dropout_rate=0.5)


def test_logits_and_gradients_equal_the_keras_twin():
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
    assert len(grads) == len(keras_grads) == 8  # 4 layers × (kernel, bias)
    for g, k in zip(grads, keras_grads):
        np.testing.assert_allclose(g, k, atol=1e-5 * max(1.0, float(np.max(np.abs(k)))))


def test_pooling_before_relu_equals_relu_before_pooling():
    """max over a window of max(z, 0) = max(max over the window of z, 0): the reference's order
    (ReLU inside the convolution, then pool) on the same weights gives the same logits."""
    ours, _ = _pair()
    relu_first = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(24, 5, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10)])
    relu_first.set_weights([v.numpy() for v in ours.trainable_variables])
    x = _images(32)
    np.testing.assert_allclose(ours(x).numpy(), relu_first(x, training=False).numpy(),
                               rtol=1e-6, atol=1e-6)  # measured: equal to the bit


def test_bfloat16_logits_equal_the_keras_twin_under_the_same_policy():
    ours, theirs = _pair("mixed_bfloat16")
    x = _images()
    mine = precision.cast_logits(ours(x, training=False))
    keras_logits = tf.cast(theirs(x, training=False), tf.float32)
    np.testing.assert_allclose(mine, keras_logits, atol=0.05)  # bfloat16: 8 bits of mantissa
    assert ours.layers[0].kernel.dtype == tf.float32  # float32 master weights
