"""What Conv2D and Dense share: y = act(z), z = x ⊛ W + b, and the three gradients of z.

Both layers are an affine map followed by an activation. With δ_y = ∂L/∂y
coming from the layer above, the chain rule runs in three steps:

    δ_z   = act'(δ_y)                       (``activations``: from the output y)
    ∂L/∂b = Σ δ_z over every axis but the last (b is added at every position)
    ∂L/∂W = kernel_gradient(x, δ_z)         (Dense: xᵀ δ_z;  Conv2D: x correlated with δ_z)
    ∂L/∂x = input_gradient(δ_z, W)          (Dense: δ_z Wᵀ;  Conv2D: δ_z convolved with W rotated)

The forward is the layer's own call, so nothing of its math is written twice:
x and y are all the backward keeps.

Mixed precision: the layer may compute in a narrower dtype than its variables
(float32 weights read as bfloat16). The backward then runs in the dtype of y,
the compute dtype, and ``loss_and_gradients`` casts each gradient to its
variable's dtype at the end, as the tape does through ``tf.cast``.
"""

import tensorflow as tf

from mnist_tf.backprop.activations import activation_backward


def affine_layer(layer, x, training, kernel_gradient, input_gradient):
    """Runs ``layer(x)`` and returns ``(y, backward)``.

    Args:
      layer: a Conv2D or Dense (has ``kernel``, ``bias`` or None, ``activation``).
      x: the layer's input.
      training: passed to the layer.
      kernel_gradient: ``(x, δ_z) → ∂L/∂W`` [kernel shape].
      input_gradient: ``(δ_z, W) → ∂L/∂x`` [x's shape].

    Returns:
      y, the layer's output, and ``backward(δ_y, need_dx=True) → (∂L/∂x or None,
      [(variable, gradient), ...])`` (the protocol of every layer here, see
      ``sequential``); ``need_dx=False`` skips ∂L/∂x for the first layer, whose
      input gradient nobody needs (the tape skips it too).
    """
    act_backward = activation_backward(layer)
    y = layer(x, training=training)

    def backward(dy, need_dx=True):
        dz = act_backward(dy, y)
        compute_x = tf.cast(x, dz.dtype)
        gradients = [(layer.kernel, kernel_gradient(compute_x, dz))]
        if layer.bias is not None:
            gradients.append((layer.bias, tf.reduce_sum(dz, axis=list(range(dz.shape.rank - 1)))))
        dx = None
        if need_dx:
            dx = tf.cast(input_gradient(dz, tf.cast(layer.kernel, dz.dtype)), x.dtype)
        return dx, gradients

    return y, backward
