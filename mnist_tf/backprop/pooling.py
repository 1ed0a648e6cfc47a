"""MaxPool2D backward: each output's gradient goes to the one input that was its window's maximum.

y[b, i, j, c] = max_{di, dj} x_pad[b, s_h·i + di, s_w·j + dj, c] is, locally, a
copy of one input (the arg-max), so ∂y/∂x is 1 there and 0 elsewhere::

    ∂L/∂x[b, p, q, c] = Σ_{(i, j): (p, q) is the arg-max of window (i, j)} δ[b, i, j, c]

δ, y [B, H', W', C]; x, ∂L/∂x [B, H, W, C]. Three details decide the numbers:

  * **Ties** (common after ReLU: a window of zeros) go to the *first* maximum in
    row-major window order, (0, 0), (0, 1), …, (1, 0), …: TensorFlow's CPU
    MaxPoolGrad finds the arg-max by scanning the window in that order and
    replacing it only on a strictly larger value (``output < input`` in
    ``SpatialMaxPoolWithArgMaxHelper``, tensorflow/core/kernels/maxpooling_op.cc).
    Measured on TensorFlow 2.21, eager and in a tf.function, oneDNN on or off.
  * **Overlapping windows** (strides < pool size) can pick the same input; its
    gradients add up.
  * **Rows and columns no window reaches** (the 11th of 11 rows under 2×2
    valid pooling: 11 → 5) get 0; "same" padding is never the maximum.

Written with one strided slice per window offset: offset (di, dj) sees
x_pad[b, s_h·i + di, s_w·j + dj, c] for every output, [B, H', W', C]; it is the
first maximum where it equals y and no earlier offset was. Its share of δ goes
back into place: for the usual non-overlapping windows (strides = pool size)
by interleaving the shares with a reshape; for any strides by spreading each
share to stride spacing, shifting it by its offset and adding them up.
"""

import math

import tensorflow as tf

from mnist_tf.backprop import geometry


def max_pool2d_backward(x, y, dy, pool_size, strides, padding):
    """∂L/∂x [B, H, W, C] from the pooling's input x, output y and δ = ∂L/∂y [B, H', W', C].

    Args:
      pool_size, strides: pairs of ints; padding: "VALID" or "SAME" (as the layer keeps them).
    """
    size = geometry.spatial_size(x)
    pads = geometry.paddings(size, pool_size, strides, padding)
    # NaN equals nothing, so a padded position is never taken for the maximum.
    x_pad = geometry.pad_spatial(x, pads, value=math.nan)
    shares = _first_maximum_shares(x_pad, y, dy, pool_size, strides)
    padded_size = x_pad.shape[1], x_pad.shape[2]
    if tuple(strides) == tuple(pool_size):
        dx_pad = _tile_windows(shares, pool_size, padded_size)
    else:
        dx_pad = _add_windows(shares, pool_size, strides, padded_size)
    (top, _), (left, _) = pads
    return dx_pad[:, top:top + size[0], left:left + size[1], :]


def _first_maximum_shares(x_pad, y, dy, pool_size, strides):
    """Per window offset, row-major: δ where that offset holds the window's first maximum, else 0.

    Each of the ph·pw results is [B, H', W', C]; for every output exactly one of
    them carries its δ.
    """
    out_size = y.shape[1], y.shape[2]
    taken = tf.zeros_like(y, dtype=tf.bool)  # has an earlier offset been the arg-max?
    shares = []
    for offset in geometry.window_offsets(pool_size):
        first = tf.logical_and(geometry.window_slice(x_pad, offset, strides, out_size) == y,
                               tf.logical_not(taken))
        taken = tf.logical_or(taken, first)
        shares.append(tf.where(first, dy, tf.zeros_like(dy)))
    return shares


def _tile_windows(shares, pool_size, padded_size):
    """Non-overlapping windows (strides = pool size): the shares interleave, nothing adds up.

    Offset (dh, dw) of output (i, j) is input (ph·i + dh, pw·j + dw): stacking the
    shares behind each other and reshaping puts each value in place
    ([B, H', W', pw, C] → [B, H', pw·W', C] per dh, then the same over dh); the
    rows and columns no window reaches are padded with zeros.
    """
    ph, pw = pool_size
    rows = []
    for dh in range(ph):
        row = tf.stack(shares[dh * pw:(dh + 1) * pw], axis=3)  # [B, H', W', pw, C]
        rows.append(tf.reshape(row, [-1, row.shape[1], row.shape[2] * pw, row.shape[4]]))
    tiled = tf.stack(rows, axis=2)  # [B, H', ph, W'·pw, C]
    tiled = tf.reshape(tiled, [-1, tiled.shape[1] * ph, tiled.shape[3], tiled.shape[4]])
    return geometry.pad_spatial(tiled, ((0, padded_size[0] - tiled.shape[1]),
                                        (0, padded_size[1] - tiled.shape[2])))


def _add_windows(shares, pool_size, strides, padded_size):
    """Any strides: each share spread to stride spacing, shifted by its offset, all added up
    (overlapping windows may route several gradients to one input)."""
    total = 0
    for offset, share in zip(geometry.window_offsets(pool_size), shares):
        spread = geometry.dilate(share, strides)
        total += geometry.pad_spatial(spread, [
            (start, size - start - n)
            for start, size, n in zip(offset, padded_size, spread.shape[1:3])])
    return total


def max_pool2d(layer, x, training):
    """Forward through a ``layers.MaxPool2D`` that keeps x and y: (y, backward)."""
    y = layer(x, training=training)

    def backward(dy, need_dx=True):
        if not need_dx:  # no weights: the input gradient is all there is
            return None, []
        return max_pool2d_backward(x, y, dy, layer.pool_size, layer.strides, layer.padding), []

    return y, backward
