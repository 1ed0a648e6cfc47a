"""Augmentation geometry (identity, quarter turns, integer shifts, zoom) and seeding."""

import math

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf.data import augment


def _images(batch=3, size=28, channels=1, seed=0):
    return np.random.default_rng(seed).random((batch, size, size, channels), dtype=np.float32)


def _apply(images, angle=0.0, zoom=1.0, shift_y=0.0, shift_x=0.0):
    n = len(images)
    matrix = augment.affine_matrix([angle] * n, [zoom] * n, [shift_y] * n, [shift_x] * n,
                                   images.shape[1:3])
    return augment.transform(tf.constant(images), matrix).numpy()


def test_identity_gives_the_image_back():
    x = _images()
    np.testing.assert_array_equal(_apply(x), x)


@pytest.mark.parametrize("quarter_turns", [1, 2, 3, -1])
def test_quarter_turns_equal_np_rot90(quarter_turns):
    x = _images()
    expected = np.rot90(x, quarter_turns, axes=(1, 2))  # counter-clockwise on screen
    np.testing.assert_allclose(_apply(x, angle=quarter_turns * math.pi / 2), expected, atol=1e-6)


def test_quarter_turn_of_a_non_square_image():
    x = _images(size=6)[:, :, :4]  # [B, 6, 4, 1]
    matrix = augment.affine_matrix([math.pi / 2] * 3, [1.0] * 3, [0.0] * 3, [0.0] * 3, (6, 4))
    out = augment.transform(tf.constant(x), matrix).numpy()
    # Centres at (1.5, 2.5): the turned 4x6 content overlaps the 6x4 frame in its middle.
    np.testing.assert_allclose(out[:, 1:5, :, :], np.rot90(x, 1, axes=(1, 2))[:, :, 1:5, :],
                               atol=1e-6)


@pytest.mark.parametrize("shift_y, shift_x", [(2, 0), (0, -3), (1, 4), (-5, -2)])
def test_integer_shift_equals_a_shifted_array_with_zero_fill(shift_y, shift_x):
    x = _images()
    expected = np.zeros_like(x)
    h, w = x.shape[1:3]
    expected[:, max(shift_y, 0):h + min(shift_y, 0), max(shift_x, 0):w + min(shift_x, 0)] = \
        x[:, max(-shift_y, 0):h - max(shift_y, 0), max(-shift_x, 0):w - max(shift_x, 0)]
    np.testing.assert_array_equal(_apply(x, shift_y=shift_y, shift_x=shift_x), expected)


def test_the_matrix_is_the_documented_product():
    theta, s, t_y, t_x, size = 0.3, 1.2, -1.5, 2.0, 28
    m = augment.affine_matrix([theta], [s], [t_y], [t_x], size).numpy()[0]
    a, b, c = s * math.cos(theta), s * math.sin(theta), (size - 1) / 2
    np.testing.assert_allclose(m, [[a, b, c + t_x - a * c - b * c],
                                   [-b, a, c + t_y + b * c - a * c], [0, 0, 1]], atol=1e-12)
    # The centre goes to centre + t; a point at distance d from it lands at distance s·d.
    np.testing.assert_allclose(m @ [c, c, 1], [c + t_x, c + t_y, 1], atol=1e-12)
    moved = m @ [c + 5, c, 1] - m @ [c, c, 1]
    assert np.hypot(*moved[:2]) == pytest.approx(5 * s)


def test_zoom_two_enlarges_the_centre():
    x = np.zeros((1, 8, 8, 1), np.float32)
    x[0, 3:5, 3:5] = 1.0  # a 2x2 block around the centre (3.5, 3.5)
    out = _apply(x, zoom=2.0)
    assert out[0, 2:6, 2:6].min() > 0.4 and out[0, 0].max() == 0.0


def test_random_maps_are_seeded_and_stay_in_range():
    x = _images(batch=8)
    first = augment.augment_batch(x, tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(first, augment.augment_batch(x, tf.constant([1, 2])))
    assert np.max(np.abs(first - augment.augment_batch(x, tf.constant([1, 3])))) > 0.1
    assert first.shape == x.shape and first.dtype == np.float32
    nothing = augment.augment_batch(x, tf.constant([1, 2]), 0.0, 0.0, 0.0).numpy()
    np.testing.assert_array_equal(nothing, x)
    one = augment.augment_batch(x[0], tf.constant([1, 2]))
    assert one.shape == x[0].shape


def test_a_resumed_epoch_replays_the_same_augmentation():
    x, y = _images(batch=10), np.arange(10)

    def epoch(skip):
        batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(3).skip(skip)
        return [b[0].numpy() for b in augment.augment_dataset(batches, seed=5, epoch=2,
                                                              skip_batches=skip)]

    full, resumed = epoch(0), epoch(2)
    assert len(full) == 4 and len(resumed) == 2
    for a, b in zip(full[2:], resumed):
        np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(full[0] - full[1][:3])) > 0  # batches differ
