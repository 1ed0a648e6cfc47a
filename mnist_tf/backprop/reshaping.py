"""Flatten backward: a reshape moves values without changing them, so its backward reshapes back.

y = reshape(x, [B, H·W·C]) maps x[b, h, w, c] to y[b, (h·W + w)·C + c] (row-major),
a permutation-free relabelling: ∂y/∂x is the identity under that relabelling, so
∂L/∂x = reshape(δ, shape of x): [B, n] → [B, H, W, C].
"""

import tensorflow as tf


def flatten(layer, x, training):
    """Forward through a ``layers.Flatten``: (y, backward)."""
    y = layer(x, training=training)

    def backward(dy, need_dx=True):
        if not need_dx:
            return None, []
        return tf.reshape(dy, tf.shape(x)), []

    return y, backward
