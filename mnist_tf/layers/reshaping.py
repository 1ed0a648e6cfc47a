"""Flatten: [B, d1, d2, ...] → [B, d1·d2·…], row-major (C order), as ``keras.layers.Flatten``.

Row-major order over (H, W, C) is what makes a Keras Dense kernel that follows
a Flatten load unchanged into ours. No parameters; the gradient is the same
reshape backwards.
"""

import math

import tensorflow as tf

from mnist_tf.layers.base import Layer


class Flatten(Layer):
    """Keeps the batch axis, flattens the rest. ``name`` defaults to "flatten"."""

    def __init__(self, name=None):
        super().__init__(name=name or "flatten")

    def _call(self, x, training):
        rest = x.shape[1:]
        if rest.is_fully_defined():  # keeps the static size Dense needs to build
            return tf.reshape(x, [-1, math.prod(rest.as_list())])
        return tf.reshape(x, tf.stack([tf.shape(x)[0], -1]))
