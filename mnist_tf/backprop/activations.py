"""The backward of each activation, written in terms of the activation's *output*.

A Conv2D or Dense layer computes y = act(z), z = the affine part. Its backward
needs δ_z = ∂L/∂z from δ_y = ∂L/∂y; for the activations we have, the output y
alone is enough, so the backward keeps y (the layer's own result) and never
recomputes z:

    linear:   y = z                 δ_z = δ_y
    relu:     y = max(z, 0)         δ_z = δ_y · 1[y > 0]
              (y > 0 exactly where z > 0; at z = 0 the slope is taken as 0, as
              TensorFlow's ReluGrad does, so a dead unit passes no gradient)
    softmax:  y_i = e^{z_i} / Σ_j e^{z_j}, with ∂y_i/∂z_k = y_i (1[i = k] − y_k), so
              δ_z,k = Σ_i δ_y,i y_i (1[i = k] − y_k) = y_k (δ_y,k − Σ_i δ_y,i y_i)

All shapes are the layer's output shape ([B, n] or [B, H', W', K]); softmax
acts along the last axis. A standalone ``layers.Activation`` (y = act(x), as
after a BatchNormalization) uses the same functions with z = x.
"""

import tensorflow as tf

from mnist_tf.layers import activations


def linear_backward(dy, y):
    """δ_z = δ_y: the identity passes the gradient unchanged."""
    del y
    return dy


def relu_backward(dy, y):
    """δ_z = δ_y · 1[y > 0] (0 at z = 0), the very product TensorFlow's ReluGrad computes."""
    return dy * tf.cast(y > 0, dy.dtype)


def softmax_backward(dy, y):
    """δ_z = y ⊙ (δ_y − Σ_last δ_y ⊙ y): the softmax Jacobian-vector product along the last axis."""
    return y * (dy - tf.reduce_sum(dy * y, axis=-1, keepdims=True))


_BACKWARD = {
    activations.linear: linear_backward,
    activations.relu: relu_backward,
    tf.nn.relu: relu_backward,
    activations.softmax: softmax_backward,
    tf.nn.softmax: softmax_backward,
}


def activation_backward(layer):
    """The backward of ``layer.activation``; an activation without one is a ValueError naming it."""
    backward = _BACKWARD.get(layer.activation)
    if backward is None:
        name = getattr(layer.activation, "__name__", repr(layer.activation))
        raise ValueError(f"no hand-written backward for activation {name!r} of layer "
                         f"{layer.name!r}; known: linear, relu, softmax "
                         "(add one to mnist_tf/backprop/activations.py)")
    return backward


def activation_layer(layer, x, training):
    """Forward through a ``layers.Activation`` (the activation alone, y = act(x)): (y, backward)."""
    act_backward = activation_backward(layer)
    y = layer(x, training=training)

    def backward(dy, need_dx=True):
        return (act_backward(dy, y) if need_dx else None), []

    return y, backward
