"""Augmentation: a random rotation, zoom and shift of each training image, as ONE affine map.

Coordinates are (x, y) = (column, row) with y pointing down and pixel centres on
the integers, so the image's centre is c = ((W − 1)/2, (H − 1)/2), as in Keras's
``RandomRotation``. In homogeneous coordinates the map taking a point of the input
image to where it lands in the output is the product (rightmost first)::

    M = T(c + t) · R(θ) · S(s) · T(−c)

    T(v) = [[1, 0, v_x],     R(θ) = [[ cos θ, sin θ, 0],     S(s) = [[s, 0, 0],
            [0, 1, v_y],             [−sin θ, cos θ, 0],             [0, s, 0],
            [0, 0, 1  ]]             [ 0,     0,     1]]             [0, 0, 1]]

i.e. move the centre to the origin, zoom by s (s > 1 enlarges the digit), rotate by
θ (θ > 0 turns the digit counter-clockwise on screen, as ``np.rot90``: with y down,
that is this R), move back, and shift by t = (t_x, t_y) pixels (t_x > 0: right,
t_y > 0: down). Multiplied out, with a = s cos θ and b = s sin θ::

    M = [[ a, b, c_x + t_x − a c_x − b c_y],
         [−b, a, c_y + t_y + b c_x − a c_y],
         [ 0, 0, 1                        ]]

The resampling op ``ImageProjectiveTransformV3`` (the one Keras's RandomRotation uses)
asks the opposite question — for each output pixel, where in the input to read — so it
takes A = M⁻¹, scaled so that A[2, 2] = 1, flattened to its first 8 entries
(a0, a1, a2, b0, b1, b2, c0, c1): output (x, y) reads input ((a0 x + a1 y + a2)/k,
(b0 x + b1 y + b2)/k), k = c0 x + c1 y + 1 (k = 1 for an affine map). It interpolates
bilinearly and reads 0 outside the image. The matrices are built in float64 so that
exact maps (a quarter turn, an integer shift) stay exact.

The random parameters are uniform in [−max, max] (s in [1 − max_zoom, 1 + max_zoom]),
drawn by stateless ops from a seed pair: ``augment_dataset`` derives batch i's seed
from (seed, epoch, i), so a run resumed mid-epoch (``skip_batches``) replays exactly.
"""

import math

import tensorflow as tf


def _translation(v_x, v_y):
    one, zero = tf.ones_like(v_x), tf.zeros_like(v_x)
    return tf.stack([tf.stack([one, zero, v_x], -1), tf.stack([zero, one, v_y], -1),
                     tf.stack([zero, zero, one], -1)], -2)


def affine_matrix(angle, zoom, shift_y, shift_x, size) -> tf.Tensor:
    """M = T(c + t) · R(θ) · S(s) · T(−c), the forward map input → output, float64 [B, 3, 3].

    Args:
      angle: θ in radians, [B] (or a scalar); > 0 turns the content counter-clockwise.
      zoom: s, [B]; > 1 enlarges the content.
      shift_y, shift_x: t_y (down), t_x (right) in pixels, [B].
      size: (H, W) of the images (or an int for square ones).
    """
    height, width = (size, size) if isinstance(size, int) else size
    angle, zoom, shift_y, shift_x = (  # Python numbers straight to float64, not via float32
        tf.reshape(tf.cast(tf.convert_to_tensor(v, dtype_hint=tf.float64), tf.float64), [-1])
        for v in (angle, zoom, shift_y, shift_x))
    cos, sin, zero, one = tf.cos(angle), tf.sin(angle), tf.zeros_like(angle), tf.ones_like(angle)
    c_x, c_y = zero + (width - 1) / 2.0, zero + (height - 1) / 2.0
    rotation = tf.stack([tf.stack([cos, sin, zero], -1), tf.stack([-sin, cos, zero], -1),
                         tf.stack([zero, zero, one], -1)], -2)
    scaling = tf.linalg.diag(tf.stack([zoom, zoom, one], -1))
    return (_translation(c_x + shift_x, c_y + shift_y) @ rotation @ scaling
            @ _translation(-c_x, -c_y))


def transform_parameters(matrix) -> tf.Tensor:
    """A = M⁻¹ / (M⁻¹)[2, 2], flattened to the op's 8 parameters, float32 [B, 8]."""
    inverse = tf.linalg.inv(matrix)
    inverse = inverse / inverse[:, 2:3, 2:3]
    return tf.cast(tf.reshape(inverse, [-1, 9])[:, :8], tf.float32)


def transform(images, matrix) -> tf.Tensor:
    """Resamples float images [B, H, W, C] through the forward maps ``matrix`` [B, 3, 3]: bilinear, zero fill."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transform_parameters(matrix),
        output_shape=tf.shape(images)[1:3], fill_value=tf.constant(0.0, images.dtype),
        interpolation="BILINEAR", fill_mode="CONSTANT")


def augment_batch(images, seed, max_rotation_degrees=10.0, max_shift=2.0,
                  max_zoom=0.1) -> tf.Tensor:
    """Each image of the batch moved by its own random rotation, zoom and shift.

    Args:
      images: float [B, H, W, C] (or one image [H, W, C]).
      seed: a stateless seed, int [2]; the same seed gives the same maps.
      max_rotation_degrees: θ uniform in ±this many degrees; default 10.
      max_shift: t_x, t_y uniform in ±this many pixels; default 2.
      max_zoom: s uniform in [1 − max_zoom, 1 + max_zoom]; default 0.1.

    Returns:
      The transformed images, same shape and dtype.
    """
    images = tf.convert_to_tensor(images)
    single = images.shape.rank == 3
    if single:
        images = images[tf.newaxis]
    u = tf.random.stateless_uniform(tf.stack([tf.shape(images)[0], 4]), seed, -1.0, 1.0,
                                    dtype=tf.float64)
    matrix = affine_matrix(u[:, 0] * (max_rotation_degrees * math.pi / 180.0),
                           1.0 + u[:, 1] * max_zoom, u[:, 2] * max_shift, u[:, 3] * max_shift,
                           (images.shape[1], images.shape[2]))
    out = transform(images, matrix)
    return out[0] if single else out


def augment_dataset(dataset, seed, epoch, skip_batches=0, **kwargs) -> tf.data.Dataset:
    """Applies :func:`augment_batch` to the images of a dataset of (images, labels) batches.

    Batch i of epoch e gets the seed fold_in((seed, e), i + skip_batches): a pure function
    of (seed, epoch, batch), so a resumed epoch that skips its first batches sees the
    same maps for the rest. ``kwargs`` go to :func:`augment_batch`.
    """
    base = tf.constant([seed, epoch], tf.int64)

    def augment(index, batch):
        images, labels = batch
        batch_seed = tf.random.experimental.stateless_fold_in(base, index)
        augmented = augment_batch(images, batch_seed, **kwargs)
        return tf.ensure_shape(augmented, [None, *images.shape[1:]]), labels  # static H, W

    return (dataset.enumerate(start=skip_batches)
            .map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
