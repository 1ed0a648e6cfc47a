"""BatchNormalization backward: the classic three-term formula (training) or a per-channel scale.

Per channel c, over the n values the statistics run over (n = B·H·W for
images [B, H, W, C]), with r = 1 / √(σ² + ε), x̂ = (x − μ) r and δ = ∂L/∂y::

    y = γ x̂ + β

**Inference** (the moving statistics: μ, σ² are constants): y = x · γ r + const, so::

    ∂L/∂x = δ γ r          ∂L/∂γ = Σ δ x̂          ∂L/∂β = Σ δ

**Training** (the batch's own μ = (1/n) Σ x and σ² = (1/n) Σ (x − μ)²):
μ and σ² depend on every x too. Through x̂ = (x − μ) r, with
∂μ/∂x_i = 1/n and ∂σ²/∂x_i = (2/n)(x_i − μ)::

    ∂L/∂x̂ = γ δ
    ∂L/∂σ² = Σ_j γ δ_j (x_j − μ) · (−½) r³  = −(γ r² / 2) Σ δ x̂
    ∂L/∂μ  = −r Σ_j γ δ_j  (+ ∂L/∂σ² · ∂σ²/∂μ, which is 0: Σ (x − μ) = 0)
    ∂L/∂x_i = γ δ_i r + ∂L/∂σ² (2/n)(x_i − μ) + ∂L/∂μ / n
            = (γ r / n) · (n δ_i − Σ δ − x̂_i Σ δ x̂)

the three terms: the direct path, the mean's, the variance's. γ's and β's
gradients are as in inference. All sums run over the n values of a channel;
x, δ, ∂L/∂x share the input's shape, γ, β and their gradients are [C].

Half-precision inputs are normalised in float32 (as the layer does), so the
backward runs in the statistics' dtype and casts ∂L/∂x back.
"""

import tensorflow as tf


def batch_norm_backward(x, dy, gamma, epsilon, axis, training, moving_mean, moving_variance):
    """(∂L/∂x, ∂L/∂γ, ∂L/∂β) for y = γ (x − μ)/√(σ² + ε) + β.

    Args:
      x, dy: the input and δ = ∂L/∂y, same shape, in the statistics' dtype.
      gamma: γ [C], or None (scale=False: γ = 1).
      epsilon: ε.
      axis: the channel axis (non-negative).
      training: batch statistics (True) or the moving ones (False).
      moving_mean, moving_variance: [C], used when not training.
    """
    axes = [i for i in range(x.shape.rank) if i != axis]
    if training:
        mean = tf.reduce_mean(x, axes, keepdims=True)
        variance = tf.reduce_mean(tf.square(x - mean), axes, keepdims=True)
    else:
        mean, variance = _broadcast(moving_mean, x, axis), _broadcast(moving_variance, x, axis)
    r = tf.math.rsqrt(variance + epsilon)
    x_hat = (x - mean) * r
    dgamma = tf.reduce_sum(dy * x_hat, axes)
    dbeta = tf.reduce_sum(dy, axes)
    scale = r if gamma is None else r * _broadcast(gamma, x, axis)
    if not training:
        return dy * scale, dgamma, dbeta
    n = tf.cast(tf.size(x) // tf.size(dbeta), x.dtype)
    dx = (scale / n) * (n * dy - _broadcast(dbeta, x, axis) - x_hat * _broadcast(dgamma, x, axis))
    return dx, dgamma, dbeta


def _broadcast(v, x, axis):
    """A [C] vector shaped to broadcast along ``axis`` of x."""
    return tf.reshape(v, [-1 if i == axis else 1 for i in range(x.shape.rank)])


def batch_normalization(layer, x, training):
    """Forward through a ``layers.BatchNormalization`` (updating its moving statistics once).

    Returns (y, backward).
    """
    y = layer(x, training=training)

    def backward(dy, need_dx=True):
        dtype = layer.moving_mean.dtype
        dx, dgamma, dbeta = batch_norm_backward(
            tf.cast(x, dtype), tf.cast(dy, dtype), layer.gamma, layer.epsilon,
            layer.axis % x.shape.rank, training, layer.moving_mean, layer.moving_variance)
        pairs = [(v, g) for v, g in ((layer.gamma, dgamma), (layer.beta, dbeta)) if v is not None]
        return (tf.cast(dx, x.dtype) if need_dx else None), pairs

    return y, backward
