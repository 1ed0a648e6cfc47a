"""Conv2D: a 2-D convolution (strictly, a cross-correlation) over NHWC images, Keras's layout.

With input x [B, H, W, C], kernel W [kh, kw, C, K], bias b [K] and strides (s_h, s_w)::

    out[b, i, j, k] = act( b[k] + Σ_{di<kh, dj<kw, c<C} x[b, s_h·i + di, s_w·j + dj, c] · W[di, dj, c, k] )

(on the zero-padded input with ``padding="same"``). Output [B, H', W', K] with

    "valid":  H' = ⌊(H − kh) / s_h⌋ + 1        "same":  H' = ⌈H / s_h⌉

and likewise for W'. Gradients, with δ = ∂L/∂out (before the activation)::

    ∂L/∂W[di, dj, c, k] = Σ_{b,i,j} x[b, s_h·i + di, s_w·j + dj, c] · δ[b, i, j, k]
    ∂L/∂b[k]            = Σ_{b,i,j} δ[b, i, j, k]
    ∂L/∂x               = the "transposed convolution" of δ with W (each input pixel
                          collects from every output whose window covered it)

The primitive is ``tf.nn.conv2d``; the layer owns the variables, the
initialization and the bias/activation. Parameters: kh·kw·C·K + K.
"""

import tensorflow as tf

from mnist_tf.layers import activations
from mnist_tf.layers.base import Layer, check_padding, last_dim, pair


class Conv2D(Layer):
    """``keras.layers.Conv2D`` (channels-last, no dilation or groups), as a tf.Module.

    Args (shared ones documented in ``mnist_tf.layers.base``):
      filters: K, the number of output channels.
      kernel_size, strides=1, padding="valid", activation=None, use_bias=True,
      seed=None, name=None (default "conv2d").

    Call: x [B, H, W, C] → [B, H', W', K]; the first call fixes C and the dtype.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None,
                 use_bias=True, seed=None, name=None):
        super().__init__(name=name or "conv2d")
        self.filters = int(filters)
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.strides = pair(strides, "strides")
        self.padding = check_padding(padding)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.seed = seed

    def _build(self, input_shape, dtype):
        if input_shape.rank != 4:
            raise ValueError(f"Conv2D {self.name!r} expects images [B, H, W, C], "
                             f"got shape {input_shape}")
        channels = last_dim(input_shape, self)
        self._make_weights([*self.kernel_size, channels, self.filters], self.filters, self.seed,
                           self.use_bias, dtype)

    def _call(self, x, training):
        y = tf.nn.conv2d(x, self.autocast(self.kernel), strides=self.strides, padding=self.padding)
        if self.bias is not None:
            y = y + self.autocast(self.bias)
        return self.activation(y)
