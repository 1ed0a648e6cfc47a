"""Adding a bias over the last axis, and its gradient, written out (used by Conv2D and Dense).

With y [..., K] (a convolution's [B, H, W, K] or a matmul's [B, K]) and b [K]::

    z[..., k] = y[..., k] + b[k]
    ∂L/∂y = δ_z                       ∂L/∂b[k] = Σ_{every axis but the last} δ_z[..., k]

Forward: ``tf.nn.bias_add``, as Keras adds its biases, rather than ``y + b``: the
sum is the same, but TensorFlow's CPU graph optimizer fuses Conv2D/MatMul +
BiasAdd (+ Relu) into one oneDNN kernel, one pass over the output instead of three.

Gradient: written here (``tf.custom_gradient``) because of where the sum of ∂L/∂b
accumulates. TensorFlow's own gradient of BiasAdd, the BiasAddGrad kernel, sums
in the dtype of δ; under a mixed policy that is bfloat16 (or float16), and on
CPU the running sum then loses every small term once it is large (measured:
43,264 bfloat16 terms summing to 46.1 came out 16.5). ``tf.reduce_sum`` of
bfloat16 accumulates in float32 and rounds the result once; of float16 on CPU
it does not (1% off on the same sum), so float16 δ is cast to float32 first.
The hand-written backward (``backprop.affine``) calls the same ``bias_gradient``.
In float32 the sum differs from Keras's BiasAddGrad only in the order of the
additions (the last bits: measured ≤ 2e-7). In bfloat16 it is the more
accurate one (BUILD_NOTES, "Mixed precision", has the measurement on real data).
"""

import tensorflow as tf


def bias_gradient(dz, dtype):
    """∂L/∂b = Σ δ_z over every axis but the last, as a ``dtype`` tensor [K].

    Args:
      dz: δ_z [..., K], in the compute dtype.
      dtype: the bias variable's dtype (float32 under a mixed policy).
    """
    if dz.dtype == tf.float16:  # its CPU reduce_sum accumulates in float16
        dz = tf.cast(dz, tf.float32)
    return tf.cast(tf.reduce_sum(dz, axis=list(range(dz.shape.rank - 1))), dtype)


@tf.custom_gradient
def add_bias(y, bias):
    """z = y + b over the last axis: y [..., K] in the compute dtype, ``bias`` [K] the variable
    (read in its own dtype, cast to y's here). Returns z [..., K] like y."""

    def gradient(dz):
        return dz, bias_gradient(dz, bias.dtype)

    return tf.nn.bias_add(y, tf.cast(bias, y.dtype)), gradient
