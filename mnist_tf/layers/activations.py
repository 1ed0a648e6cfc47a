"""Activations: relu, softmax, and ``get`` to look one up by name as Keras's ``activation=`` does.

relu(x) = max(x, 0), elementwise; ∂relu/∂x = 1 where x > 0, else 0.

softmax(z)_i = exp(z_i) / Σ_j exp(z_j), computed as exp(z_i − m) / Σ_j exp(z_j − m)
with m = max_j z_j: the same value (the factor exp(−m) cancels) but exp never
overflows. Its Jacobian is ∂p_i/∂z_j = p_i (δ_ij − p_j). The reference CNN never
applies it inside the network: the loss fuses it with the log (see
``mnist_tf.losses``) and ``models.predict_probabilities`` applies it at the end.
"""

import tensorflow as tf


def linear(x):
    """The identity: what ``activation=None`` means."""
    return x


def relu(x):
    """max(x, 0), elementwise; any shape."""
    return tf.nn.relu(x)


def softmax(x, axis=-1):
    """exp(x − max x) / Σ exp(x − max x) along ``axis``; same shape as ``x``."""
    e = tf.exp(x - tf.stop_gradient(tf.reduce_max(x, axis=axis, keepdims=True)))
    return e / tf.reduce_sum(e, axis=axis, keepdims=True)


_BY_NAME = {"linear": linear, "relu": relu, "softmax": softmax}


def get(identifier):
    """None → identity; a name in ('linear', 'relu', 'softmax') → that function; a callable → itself."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"unknown activation {identifier!r}; expected None, a callable or one of "
                     f"{', '.join(sorted(_BY_NAME))}")
