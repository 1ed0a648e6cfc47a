"""bn_cnn: shapes, parameter count, and equality with its Keras twin given the same weights.

``keras_bn_cnn`` is the Keras twin (``bin/compare_keras.py --model=bn_cnn`` can use it);
``copy_weights`` copies ours into it in Keras's order (per layer: kernel, [bias] or
γ, β, moving mean, moving variance).
"""

import mnist_tf  # noqa: F401

import keras
import numpy as np
import tensorflow as tf

from mnist_tf import models


def keras_bn_cnn(num_classes=10, dropout_rate=0.4):
    """The same network in Keras (logits out, as ours)."""
    def block(filters):
        return [keras.layers.Conv2D(filters, 3, use_bias=False),
                keras.layers.BatchNormalization(), keras.layers.Activation("relu")]

    return keras.Sequential([
        keras.Input((28, 28, 1)), *block(32), *block(32), keras.layers.MaxPooling2D(2),
        *block(64), *block(64), keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
        keras.layers.Dense(128, use_bias=False), keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"), keras.layers.Dropout(dropout_rate),
        keras.layers.Dense(num_classes)])


def copy_weights(ours, theirs):
    """Our variables, layer by layer in Keras's order, into the Keras model."""
    values = [v.numpy() for layer in ours.layers
              for v in (*layer.trainable_variables, *getattr(layer, "non_trainable_variables", ()))]
    theirs.set_weights(values)


def _pair():
    ours = models.build(models.get("bn_cnn", dropout_rate=0.0, seed=1))
    rng = np.random.default_rng(0)
    for layer in ours.layers:  # non-trivial BN statistics and affine parameters
        if hasattr(layer, "moving_mean"):
            layer.moving_mean.assign(rng.standard_normal(layer.moving_mean.shape) * 0.1)
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape))
            layer.beta.assign(rng.standard_normal(layer.beta.shape) * 0.1)
    theirs = keras_bn_cnn(dropout_rate=0.0)
    copy_weights(ours, theirs)
    return ours, theirs


def _images(n=8):
    return np.random.default_rng(2).random((n, 28, 28, 1), dtype=np.float32)


def test_registered_with_the_documented_shapes_and_parameter_count():
    model = models.build(models.get("bn_cnn"))
    assert models.count_params(model) == 197_802 == keras_bn_cnn().count_params() - 640
    assert model(tf.zeros((3, 28, 28, 1))).shape == (3, 10)


def test_logits_equal_the_keras_twin_in_both_modes():
    ours, theirs = _pair()
    x = _images()
    np.testing.assert_allclose(ours(x), theirs(x, training=False), atol=1e-5)
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), atol=1e-4)
    for a, b in zip([v for layer in ours.layers for v in getattr(layer, "non_trainable_variables",
                                                                 ())],
                    theirs.non_trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)  # moving stats updated alike


def test_loss_gradients_equal_the_keras_twin():
    ours, theirs = _pair()
    x, y = _images(), np.arange(8) % 10
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        ours_loss = loss(y, ours(x, training=True))
    grads = tape.gradient(ours_loss, ours.trainable_variables)
    with tf.GradientTape() as tape:
        keras_loss = loss(y, theirs(x, training=True))
    keras_grads = tape.gradient(keras_loss, [w.value for w in theirs.trainable_weights])
    assert len(grads) == len(keras_grads)
    for g, k in zip(grads, keras_grads):
        np.testing.assert_allclose(g, k, atol=1e-4 * max(1.0, float(np.max(np.abs(k)))))
