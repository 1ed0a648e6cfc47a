"""Dropout backward: y = x · m with the mask m fixed by the forward draw, so ∂L/∂x = δ · m.

In training, m = 1[u ≥ rate] / (1 − rate) elementwise, u ~ U[0, 1) (see
``mnist_tf.layers.dropout``): y is linear in x with a diagonal Jacobian m, and
the backward multiplies by the *same* mask the forward drew — a dropped unit
passes no gradient, a kept one passes δ scaled by 1 / (1 − rate). In inference
(or with rate 0) y = x and ∂L/∂x = δ. Shapes: x, y, δ all alike.

The forward is the layer's own (``layer.masked`` returns y and the mask it drew
from the layer's generator), so a run with these gradients consumes the random
stream exactly as a run with the tape does and ends at the same weights.
"""

import tensorflow as tf


def dropout_backward(dy, mask):
    """∂L/∂x = δ · m (m = None: the identity, no dropout)."""
    return dy if mask is None else dy * mask


def dropout(layer, x, training):
    """Forward through a ``layers.Dropout``, drawing its mask once: (y, backward)."""
    with tf.name_scope(layer.name):
        y, mask = layer.masked(x, training)

    def backward(dy, need_dx=True):
        return (dropout_backward(dy, mask) if need_dx else None), []

    return y, backward
