"""Conv2D backward: ∂L/∂x is a convolution of δ, ∂L/∂W a correlation of x with δ.

Forward (see ``mnist_tf.layers.conv``), on the input padded by (p_top, p_left)::

    z[b, i, j, k] = b_k + Σ_{di, dj, c} x_pad[b, s_h·i + di, s_w·j + dj, c] · W[di, dj, c, k]

x [B, H, W, C], W [kh, kw, C, K], z and δ = ∂L/∂z [B, H', W', K].

**Kernel.** ∂z[b, i, j, k]/∂W[di, dj, c, k] = x_pad[b, s_h·i + di, s_w·j + dj, c], so::

    ∂L/∂W[di, dj, c, k] = Σ_{b, i, j} x_pad[b, s_h·i + di, s_w·j + dj, c] · δ[b, i, j, k]

the correlation of x with δ. For one tap (di, dj) the input it sees at every
output position is a strided slice x_(di,dj) [B, H', W', C]
(``geometry.window_slice``), and the sum is Dense's xᵀ δ over all b, i, j:
``einsum("bijc,bijk->ck")``, a [C, K] matrix for each of the kh·kw taps.

**Input.** Input pixel p = s·i + di − p_top receives from every output (i, j)
whose window covered it, weighted by the tap di that touched it::

    ∂L/∂x[b, p, q, c] = Σ_{i, di: s_h·i + di − p_top = p} Σ_{j, dj: …} Σ_k δ[b, i, j, k] W[di, dj, c, k]

Spread δ out to stride spacing (``geometry.dilate``: output i moves to row
s·i, zeros between), so the condition reads "row p + p_top − di of the
dilated δ". Pad it by kh − 1 − p_top rows on top (and enough at the bottom to
give H rows out) and substitute e = kh − 1 − di::

    ∂L/∂x[b, p, q, c] = Σ_{e, f, k} δ_padded[b, p + e, q + f, k] · W[kh−1−e, kw−1−f, c, k]

a plain stride-1 "valid" convolution of the dilated, padded δ with the kernel
rotated by 180° (W[::-1, ::-1]) and its channel axes swapped ([kh, kw, K, C]):
the transposed convolution, written out.
"""

import tensorflow as tf

from mnist_tf.backprop import geometry
from mnist_tf.backprop.affine import affine_layer


def conv2d_kernel_gradient(x, dz, kernel_size, strides, padding):
    """∂L/∂W [kh, kw, C, K] from x [B, H, W, C] and δ [B, H', W', K] (see the module docstring)."""
    out_size = dz.shape[1], dz.shape[2]
    pads = geometry.paddings(geometry.spatial_size(x), kernel_size, strides, padding)
    x_pad = geometry.pad_spatial(x, pads)
    taps = [tf.einsum("bijc,bijk->ck", geometry.window_slice(x_pad, offset, strides, out_size), dz)
            for offset in geometry.window_offsets(kernel_size)]  # kh·kw of [C, K], row-major
    return tf.reshape(tf.stack(taps), [*kernel_size, x.shape[-1], dz.shape[-1]])


def conv2d_input_gradient(dz, kernel, input_size, strides, padding):
    """∂L/∂x [B, H, W, C] from δ [B, H', W', K] and W [kh, kw, C, K]; ``input_size`` = (H, W)."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    (top, _), (left, _) = geometry.paddings(input_size, (kh, kw), strides, padding)
    spread = geometry.dilate(dz, strides)  # [B, (H'−1)s_h + 1, (W'−1)s_w + 1, K]
    rows, cols = spread.shape[1], spread.shape[2]
    full = geometry.pad_spatial(spread, ((kh - 1 - top, input_size[0] + top - rows),
                                         (kw - 1 - left, input_size[1] + left - cols)))
    rotated = tf.transpose(tf.reverse(kernel, axis=[0, 1]), [0, 1, 3, 2])  # [kh, kw, K, C]
    return tf.nn.conv2d(full, rotated, strides=1, padding="VALID")


def conv2d(layer, x, training):
    """Forward through a ``layers.Conv2D`` that keeps what its backward needs: (y, backward)."""
    size = geometry.spatial_size(x)
    return affine_layer(
        layer, x, training,
        kernel_gradient=lambda x, dz: conv2d_kernel_gradient(x, dz, layer.kernel_size,
                                                             layer.strides, layer.padding),
        input_gradient=lambda dz, kernel: conv2d_input_gradient(dz, kernel, size, layer.strides,
                                                                layer.padding))
