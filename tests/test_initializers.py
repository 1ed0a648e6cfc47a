"""Glorot uniform and zeros: the formula's bounds, mean and variance; Keras's fans; seeds."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import initializers


@pytest.mark.parametrize("shape,expected", [
    ((1600, 10), (1600, 10)),
    ((3, 3, 1, 32), (9, 288)),
    ((3, 5, 32, 64), (480, 960)),
])
def test_fans_follow_keras(shape, expected):
    assert initializers.fans(shape) == expected
    from keras.src.initializers.random_initializers import compute_fans
    assert tuple(int(f) for f in compute_fans(shape)) == expected


@pytest.mark.parametrize("shape", [(300, 200), (5, 5, 16, 32)])
def test_glorot_uniform_statistics(shape):
    fan_in, fan_out = initializers.fans(shape)
    limit = math.sqrt(6 / (fan_in + fan_out))
    w = initializers.glorot_uniform(shape, seed=0).numpy()
    assert w.shape == shape and w.dtype == np.float32
    assert -limit <= w.min() and w.max() <= limit
    assert w.min() < -0.99 * limit and w.max() > 0.99 * limit  # fills the interval
    n = w.size
    assert abs(w.mean()) < 4 * limit / math.sqrt(3 * n)          # 4 standard errors
    assert abs(w.var() / (limit ** 2 / 3) - 1) < 0.03


def test_same_bounds_as_keras_glorot_uniform():
    shape = (3, 3, 32, 64)
    ours = initializers.glorot_uniform(shape, seed=0).numpy()
    theirs = keras.initializers.GlorotUniform(seed=0)(shape).numpy()
    limit = math.sqrt(6 / (288 + 576))
    assert max(abs(ours).max(), abs(theirs).max()) <= limit
    assert abs(ours.var() - theirs.var()) < 0.05 * limit ** 2 / 3


def test_seeded_is_reproducible_and_seeds_differ():
    a = initializers.glorot_uniform((20, 30), seed=5)
    np.testing.assert_array_equal(a, initializers.glorot_uniform((20, 30), seed=5))
    np.testing.assert_array_equal(initializers.glorot_uniform((20, 30), seed=(5, 0)), a)
    assert not np.array_equal(a, initializers.glorot_uniform((20, 30), seed=6))
    assert not np.array_equal(a, initializers.glorot_uniform((20, 30), seed=(5, 1)))
    assert not np.array_equal(initializers.glorot_uniform((20, 30)),
                              initializers.glorot_uniform((20, 30)))


def test_float64_and_zeros():
    assert initializers.glorot_uniform((4, 4), seed=0, dtype=tf.float64).dtype == tf.float64
    z = initializers.zeros((3, 2))
    assert z.dtype == tf.float32 and not np.any(z.numpy())
