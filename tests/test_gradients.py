"""Finite differences in float64: the gradients TensorFlow's autodiff gives our layers and loss
are the slopes of the functions we wrote (micrograd's check, without any framework as oracle).

The check itself (central differences of Σ out·r) lives in ``gradient_check.py``,
shared with the hand-written backward's tests (``test_backprop*.py``).
"""

import numpy as np
import pytest
import tensorflow as tf

from gradient_check import check_gradients
from mnist_tf import layers, losses


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
