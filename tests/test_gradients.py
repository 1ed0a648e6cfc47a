"""Finite differences in float64: the gradients TensorFlow's autodiff gives our layers and loss
are the slopes of the functions we wrote (micrograd's check, without any framework as oracle).

For f(θ) = Σ out·r with r fixed and random, each sampled coordinate θ_i must satisfy
∂f/∂θ_i ≈ (f(θ + h e_i) − f(θ − h e_i)) / 2h, the central difference (error O(h²)).
"""

import mnist_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import layers, losses

H = 1e-6
SAMPLES = 12  # coordinates checked per tensor


def check_gradients(fn, tensors, seed=0):
    """Compares tape gradients of Σ fn()·r with central differences on sampled coordinates."""
    rng = np.random.default_rng(seed)
    r = tf.constant(rng.standard_normal(fn().shape), tf.float64)

    def objective():
        return float(tf.reduce_sum(fn() * r))

    with tf.GradientTape() as tape:
        value = tf.reduce_sum(fn() * r)
    grads = tape.gradient(value, tensors)
    for tensor, grad in zip(tensors, grads):
        grad = tf.convert_to_tensor(grad).numpy().ravel()
        flat = tensor.numpy().ravel()
        for i in rng.choice(flat.size, min(SAMPLES, flat.size), replace=False):
            numeric = []
            for step in (H, -H):
                shifted = flat.copy()
                shifted[i] += step
                tensor.assign(shifted.reshape(tensor.shape))
                numeric.append(objective())
            tensor.assign(flat.reshape(tensor.shape))
            slope = (numeric[0] - numeric[1]) / (2 * H)
            assert abs(slope - grad[i]) <= 1e-6 * max(1.0, abs(slope)), (tensor.name, i)


def _input(shape, seed=1):
    return tf.Variable(np.random.default_rng(seed).standard_normal(shape), dtype=tf.float64,
                       name="x")


@pytest.mark.parametrize("strides,padding", [(1, "valid"), (2, "same")])
def test_conv2d(strides, padding):
    x = _input((2, 7, 6, 3))
    conv = layers.Conv2D(4, 3, strides=strides, padding=padding, seed=0)
    conv(x)
    conv.bias.assign(np.random.default_rng(2).standard_normal(4))
    assert conv.kernel.dtype == tf.float64
    check_gradients(lambda: conv(x), [x, conv.kernel, conv.bias])


def test_dense():
    x = _input((5, 8))
    dense = layers.Dense(3, seed=0)
    dense(x)
    check_gradients(lambda: dense(x), [x, dense.kernel, dense.bias])


@pytest.mark.parametrize("pool_size,strides,padding", [(2, None, "valid"), (3, 2, "same")])
def test_max_pool(pool_size, strides, padding):
    x = _input((2, 9, 7, 2))  # continuous random values: no ties within a window
    pool = layers.MaxPool2D(pool_size, strides, padding)
    check_gradients(lambda: pool(x), [x])


@pytest.mark.parametrize("from_logits", [True, False])
def test_loss(from_logits):
    labels = np.random.default_rng(3).integers(0, 5, 6)
    if from_logits:
        z = _input((6, 5))
        check_gradients(lambda: losses.sparse_categorical_crossentropy(labels, z, True), [z])
    else:
        p = tf.Variable(np.random.default_rng(4).uniform(0.05, 0.9, (6, 5)), name="p")
        check_gradients(lambda: losses.sparse_categorical_crossentropy(labels, p), [p])
