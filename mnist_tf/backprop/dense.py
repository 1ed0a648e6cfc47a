"""Dense backward: z = x W + b, so ∂L/∂x = δ Wᵀ, ∂L/∂W = xᵀ δ, ∂L/∂b = Σ_batch δ.

Derivation, with x [B, n_in], W [n_in, n_out], b [n_out] and δ = ∂L/∂z [B, n_out]:
z[β, k] = b[k] + Σ_i x[β, i] W[i, k], so

    ∂z[β, k]/∂W[i, k] = x[β, i]   →   ∂L/∂W[i, k] = Σ_β x[β, i] δ[β, k]   = (xᵀ δ)[i, k]
    ∂z[β, k]/∂x[β, i] = W[i, k]   →   ∂L/∂x[β, i] = Σ_k δ[β, k] W[i, k]   = (δ Wᵀ)[β, i]
    ∂z[β, k]/∂b[k]    = 1         →   ∂L/∂b[k]    = Σ_β δ[β, k]

Each gradient has the shape of what it differentiates. For an input with more
leading axes ([..., n_in], as the layer accepts), every leading axis is a
"batch" axis and is summed over the same way.
"""

import tensorflow as tf

from mnist_tf.backprop.affine import affine_layer


def dense_kernel_gradient(x, dz):
    """∂L/∂W = xᵀ δ: [..., n_in] and [..., n_out] → [n_in, n_out], summed over the leading axes."""
    leading = list(range(x.shape.rank - 1))
    return tf.tensordot(x, dz, axes=[leading, leading])


def dense_input_gradient(dz, kernel):
    """∂L/∂x = δ Wᵀ: [..., n_out] and W [n_in, n_out] → [..., n_in]."""
    return tf.tensordot(dz, kernel, axes=[[dz.shape.rank - 1], [1]])


def dense(layer, x, training):
    """Forward through a ``layers.Dense`` that keeps what its backward needs: (y, backward)."""
    return affine_layer(layer, x, training, dense_kernel_gradient, dense_input_gradient)
