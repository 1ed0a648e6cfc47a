"""Window geometry shared by the Conv2D and MaxPool2D backwards: padding, strided windows, dilation.

A 2-D window op (convolution, pooling) with window k, stride s and padding
(p_top, p_bottom) reads, for output row i, the padded input rows
s·i + d, d = 0 … k − 1. Its backward sends each output's gradient back to
those rows, so three pieces keep coming back:

  * ``padding_amounts``: how many zero rows/columns "same" adds on each side
    (the extra one at the bottom/right, as TensorFlow);
  * ``window_slice``: for one offset (d_h, d_w) of the window, the input values
    that offset sees for every output position, [B, H', W', C] — a strided slice
    (taken through a reshape: faster);
  * ``dilate``: δ [B, H', W', C] spread out to stride spacing, with s − 1 zero
    rows/columns between neighbours, [B, (H' − 1)·s_h + 1, (W' − 1)·s_w + 1, C].
    Output (i, j) then sits at (s_h·i, s_w·j): where its window starts.
"""

import math

import tensorflow as tf


def output_size(size: int, window: int, stride: int, padding: str) -> int:
    """"VALID": ⌊(n − k) / s⌋ + 1;  "SAME": ⌈n / s⌉."""
    if padding == "SAME":
        return math.ceil(size / stride)
    return (size - window) // stride + 1


def padding_amounts(size: int, window: int, stride: int, padding: str) -> tuple:
    """(before, after) rows of padding: (0, 0) for "VALID"; for "SAME" the total
    max((n' − 1)·s + k − n, 0) split with the odd one after, as TensorFlow does."""
    if padding != "SAME":
        return 0, 0
    total = max((output_size(size, window, stride, padding) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def paddings(size, window, strides, padding) -> tuple:
    """((top, bottom), (left, right)) for an input of ``size`` (H, W): per axis, as above."""
    return tuple(padding_amounts(n, k, s, padding) for n, k, s in zip(size, window, strides))


def spatial_size(x) -> tuple:
    """(H, W) of an NHWC tensor as Python ints; unknown sizes are a clear error."""
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError(f"the hand-written backward needs static image sizes, got {x.shape}")
    return int(height), int(width)


def pad_spatial(x, pads, value=0):
    """Pads the H and W axes of an NHWC tensor by ``pads`` = ((top, bottom), (left, right))."""
    if not any(sum(pads, ())):
        return x
    return tf.pad(x, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]], constant_values=value)


def window_offsets(window: tuple):
    """The offsets (d_h, d_w) of a window, in row-major order: (0, 0), (0, 1), …"""
    return [(dh, dw) for dh in range(window[0]) for dw in range(window[1])]


def window_slice(x_padded, offset, strides, out_size):
    """x_padded[:, d_h + s_h·i, d_w + s_w·j, :] for every output (i, j): [B, H', W', C].

    With strides 1 a plain slice. With larger strides the same values are
    taken through a reshape, because TensorFlow's CPU StridedSlice with steps
    > 1 is ~20× slower: a block of H'·s_h rows, viewed as [H', s_h], holds the
    wanted rows at one position of each group of s_h (likewise for columns).
    """
    (dh, dw), (sh, sw), (oh, ow) = offset, strides, out_size
    if (sh, sw) == (1, 1):
        return x_padded[:, dh:dh + oh, dw:dw + ow, :]
    (top, h_index, h_pad), (left, w_index, w_pad) = (
        _strided_block(d, s, o, n)
        for d, s, o, n in ((dh, sh, oh, x_padded.shape[1]), (dw, sw, ow, x_padded.shape[2])))
    block = x_padded[:, top:top + oh * sh - h_pad, left:left + ow * sw - w_pad, :]
    if h_pad or w_pad:  # rows past the end, in the last group only: never selected
        block = pad_spatial(block, ((0, h_pad), (0, w_pad)))
    groups = tf.reshape(block, [-1, oh, sh, ow, sw, x_padded.shape[3]])
    return groups[:, :, h_index, :, w_index, :]


def _strided_block(offset, stride, out, size):
    """(start, index, pad) on one axis: rows start … start + out·stride − 1 (``pad`` of them
    missing at the end) hold offset + stride·i at position ``index`` of group i."""
    start = min(offset, size - out * stride)
    if start >= 0 and offset - start < stride:
        return start, offset - start, 0
    return offset, 0, offset + out * stride - size


def dilate(t, strides):
    """Inserts s − 1 zeros between neighbouring rows (and columns):
    [B, H', W', C] → [B, (H' − 1)·s_h + 1, (W' − 1)·s_w + 1, C].

    Written as a reshape: each value gets s_h × s_w cell of zeros behind it
    ([B, H', s_h, W', s_w, C] → [B, H'·s_h, W'·s_w, C]); the trailing zeros
    after the last row/column are cut off.
    """
    sh, sw = strides
    if (sh, sw) == (1, 1):
        return t
    oh, ow, channels = t.shape[1], t.shape[2], t.shape[3]
    cells = tf.pad(t[:, :, None, :, None, :],
                   [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]])
    spread = tf.reshape(cells, [-1, oh * sh, ow * sw, channels])
    return spread[:, :(oh - 1) * sh + 1, :(ow - 1) * sw + 1, :]
