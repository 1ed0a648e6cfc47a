"""Dense: the fully connected layer y = act(x W + b) (``keras.layers.Dense``).

With x [..., n_in], kernel W [n_in, n_out] (Keras's layout: inputs on rows) and
bias b [n_out]::

    y[..., k] = act( b[k] + Σ_i x[..., i] · W[i, k] )

Gradients, with δ = ∂L/∂(xW + b) of shape [B, n_out]::

    ∂L/∂W = xᵀ δ   [n_in, n_out]      ∂L/∂b = Σ_batch δ   [n_out]      ∂L/∂x = δ Wᵀ   [B, n_in]

Parameters: n_in·n_out + n_out.
"""

import tensorflow as tf

from mnist_tf.layers import activations
from mnist_tf.layers.base import Layer, last_dim


class Dense(Layer):
    """A fully connected layer.

    Args (see ``mnist_tf.layers.base``):
      units: n_out.
      activation=None (the reference CNN's last layer outputs logits), use_bias=True,
      seed=None, name=None (default "dense").

    Call: x [..., n_in] → [..., n_out]; the first call fixes n_in and the dtype.
    """

    def __init__(self, units, activation=None, use_bias=True, seed=None, name=None):
        super().__init__(name=name or "dense")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.seed = seed

    def _build(self, input_shape, dtype):
        self._make_weights([last_dim(input_shape, self), self.units], self.units, self.seed,
                           self.use_bias, dtype)

    def _call(self, x, training):
        if x.shape.rank == 2:
            y = tf.matmul(x, self.autocast(self.kernel))
        else:  # [..., n_in]: contract the last axis only
            y = tf.tensordot(x, self.autocast(self.kernel), axes=[[x.shape.rank - 1], [0]])
        if self.bias is not None:
            y = y + self.autocast(self.bias)
        return self.activation(y)
