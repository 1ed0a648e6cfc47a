"""MaxPool2D: the largest value in each window, per channel (``keras.layers.MaxPooling2D``).

With input x [B, H, W, C], window (ph, pw) and strides (s_h, s_w)::

    out[b, i, j, c] = max_{di<ph, dj<pw} x[b, s_h·i + di, s_w·j + dj, c]

Output [B, H', W', C] with H' = ⌊(H − ph) / s_h⌋ + 1 ("valid") or ⌈H / s_h⌉
("same", padding never wins the max). The gradient routes δ = ∂L/∂out back to
the one input that was the maximum of its window (the arg-max) and gives 0 to
the others: pooling has no parameters, it only selects. The primitive is
``tf.nn.max_pool2d``.
"""

import tensorflow as tf

from mnist_tf.layers.base import Layer, check_padding, pair


class MaxPool2D(Layer):
    """Max pooling over NHWC images.

    Args (see ``mnist_tf.layers.base``):
      pool_size: window size, default 2 (halves each spatial size).
      strides: default None, meaning ``pool_size`` (non-overlapping windows), as Keras.
      padding: "valid" (default) or "same".
      name: default "max_pooling2d", Keras's name.
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", name=None):
        super().__init__(name=name or "max_pooling2d")
        self.pool_size = pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, "strides")
        self.padding = check_padding(padding)

    def _call(self, x, training):
        return tf.nn.max_pool2d(x, ksize=self.pool_size, strides=self.strides,
                                padding=self.padding)
