"""Each layer's hand-written backward (``mnist_tf.backprop``) vs the tape and finite differences.

Float64, random shapes: strides 2 and 3, "same" padding, odd and even sizes,
batch 1. For every layer: the output equals the layer's own call, and ∂L/∂x and
∂L/∂θ for a random upstream δ equal ``tf.GradientTape``'s to ≤ 1e-10; a central
finite-difference check of the hand-written gradients (``gradient_check``)
agrees. Max pooling's ties and dropped rows, the loss, and the errors for an
unknown layer or activation have their own tests.
"""

import numpy as np
import pytest
import tensorflow as tf

from gradient_check import check_gradients
from mnist_tf import backprop, layers, losses
from mnist_tf.backprop import geometry
from mnist_tf.backprop.loss import softmax_cross_entropy

TOLERANCE = 1e-10


def _variable(shape, seed=1, name="x"):
    return tf.Variable(np.random.default_rng(seed).standard_normal(shape), dtype=tf.float64,
                       name=name)


def _random_weights(layer, seed=2):
    """Random values in every variable (a zero bias, γ = 1 would hide mistakes)."""
    rng = np.random.default_rng(seed)
    for v in layer.trainable_variables:
        v.assign(rng.uniform(0.5, 1.5, v.shape) * rng.choice([-1, 1], v.shape))


def _generator_states(layer):
    """A function restoring the layer's dropout generator (if any) to its state now."""
    generator = getattr(layer, "generator", None)
    state = None if generator is None else generator.state.numpy()

    def restore():
        if generator is not None:
            generator.state.assign(state)

    return restore


def _manual(layer, x, dy, training):
    """The hand-written (y, [∂L/∂x, ∂L/∂θ...]) for upstream δ = dy."""
    y, backward = backprop.forward(layer, x, training)
    dx, pairs = backward(dy)
    assert [v.ref() for v, _ in pairs] == [v.ref() for v in layer.trainable_variables]
    return y, [dx] + [g for _, g in pairs]


def assert_matches_tape(layer, x, training=False):
    """Manual vs tape (≤ 1e-10), then finite differences of the manual gradients.

    Returns the largest |manual − tape| over ∂L/∂x and every weight gradient.
    """
    layer(x, training=False)  # build
    _random_weights(layer)
    restore = _generator_states(layer)
    dy = tf.constant(np.random.default_rng(3).standard_normal(layer(x).shape), tf.float64)
    y, manual = _manual(layer, x, dy, training)
    restore()
    tensors = [x, *layer.trainable_variables]
    with tf.GradientTape() as tape:
        y_tape = layer(x, training=training)
    taped = tape.gradient(y_tape, tensors, output_gradients=dy)
    np.testing.assert_array_equal(y, y_tape)
    worst = max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(manual, taped))
    print(f"{layer.name}: max |manual − tape| = {worst:.3g}")
    assert worst <= TOLERANCE

    def fn():
        restore()
        return layer(x, training=training)

    def manual_gradients(r):
        restore()
        return _manual(layer, x, r, training)[1]

    check_gradients(fn, tensors, gradients=manual_gradients)
    return worst


@pytest.mark.parametrize("shape,kwargs", [
    ((2, 7, 6, 3), dict(filters=4, kernel_size=3, activation="relu")),
    ((1, 9, 8, 2), dict(filters=3, kernel_size=3, strides=2, padding="same", activation="relu")),
    ((3, 8, 7, 2), dict(filters=2, kernel_size=(2, 3), strides=2)),
    ((2, 5, 6, 1), dict(filters=3, kernel_size=4, strides=(2, 1), padding="same",
                        activation="linear")),
    ((1, 7, 7, 2), dict(filters=2, kernel_size=3, strides=3, padding="same", use_bias=False)),
], ids=["valid-relu", "stride2-same-batch1", "stride2-valid-odd", "even-kernel-same", "stride3"])
def test_conv2d(shape, kwargs):
    assert_matches_tape(layers.Conv2D(seed=0, **kwargs), _variable(shape))


@pytest.mark.parametrize("shape,kwargs", [
    ((5, 8), dict(units=3, activation="relu")),
    ((1, 4), dict(units=2, activation="softmax")),
    ((2, 3, 4), dict(units=5)),
    ((3, 6), dict(units=4, use_bias=False)),
], ids=["relu", "softmax-batch1", "rank3", "no-bias"])
def test_dense(shape, kwargs):
    assert_matches_tape(layers.Dense(seed=0, **kwargs), _variable(shape))


@pytest.mark.parametrize("shape,kwargs", [
    ((2, 11, 11, 3), dict(pool_size=2)),  # 11 → 5: the last row and column are dropped
    ((2, 9, 7, 2), dict(pool_size=3, strides=2, padding="same")),
    ((1, 5, 6, 2), dict(pool_size=2, strides=1, padding="same")),
    ((3, 6, 5, 1), dict(pool_size=3, strides=1)),
    ((2, 7, 8, 2), dict(pool_size=(2, 3), strides=(1, 2))),
], ids=["2x2-odd", "3s2-same", "2s1-same", "3s1-overlap", "rectangular"])
def test_max_pool(shape, kwargs):
    # Continuous random inputs: no ties, so finite differences are meaningful.
    assert_matches_tape(layers.MaxPool2D(**kwargs), _variable(shape))


@pytest.mark.parametrize("kwargs", [dict(pool_size=2), dict(pool_size=3, strides=2, padding="same"),
                                    dict(pool_size=3, strides=1), dict(pool_size=2, strides=1,
                                                                       padding="same")])
def test_max_pool_ties_as_tensorflow(kwargs):
    """After ReLU many windows hold several equal maxima (all zeros): routed as TF's MaxPoolGrad."""
    x = tf.nn.relu(tf.constant(np.random.default_rng(4).integers(-3, 2, (3, 11, 11, 4)),
                               tf.float64))
    pool = layers.MaxPool2D(**kwargs)
    dy = tf.constant(np.random.default_rng(5).standard_normal(pool(x).shape), tf.float64)
    _, (manual,) = _manual(pool, x, dy, False)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = pool(x)
    np.testing.assert_allclose(manual, tape.gradient(y, x, output_gradients=dy), rtol=0,
                               atol=TOLERANCE)


def test_max_pool_tie_goes_to_the_first_maximum_in_row_major_order():
    x = tf.constant([[0, 0, 3, 1], [0, 0, 1, 3], [2, 0, 5, 5], [2, 1, 5, 5]], tf.float64)
    x = tf.reshape(x, [1, 4, 4, 1])
    _, (dx,) = _manual(layers.MaxPool2D(2), x, tf.ones([1, 2, 2, 1], tf.float64), False)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0, 1, 0], [0, 0, 0, 0],
                                                   [1, 0, 1, 0], [0, 0, 0, 0]])


def test_max_pool_dropped_rows_get_zero():
    x = _variable((2, 11, 11, 3))
    _, (dx,) = _manual(layers.MaxPool2D(2), x, tf.ones([2, 5, 5, 3], tf.float64), False)
    assert not np.any(dx[:, 10, :, :]) and not np.any(dx[:, :, 10, :])
    assert float(tf.reduce_sum(dx)) == 2 * 5 * 5 * 3  # every window routed exactly once


@pytest.mark.parametrize("activation", ["relu", "softmax", None])
def test_activation(activation):
    assert_matches_tape(layers.Activation(activation), _variable((3, 4, 5)))


def test_every_layer_has_a_backward():
    """A layer added to mnist_tf.layers gets its backward in the same change."""
    exported = {getattr(layers, name) for name in layers.__all__}
    layer_classes = {c for c in exported if isinstance(c, type) and issubclass(c, tf.Module)}
    assert layer_classes - {layers.Layer} <= set(backprop.BACKPROP)


def test_flatten():
    assert_matches_tape(layers.Flatten(), _variable((3, 4, 5, 2)))


@pytest.mark.parametrize("rate,training", [(0.5, True), (0.3, True), (0.5, False), (0.0, True)])
def test_dropout(rate, training):
    assert_matches_tape(layers.Dropout(rate, seed=0), _variable((4, 30)), training=training)


def test_dropout_mask_is_the_layers_own_draw():
    a, b = layers.Dropout(0.5, seed=7), layers.Dropout(0.5, seed=7)
    x = tf.ones([6, 50], tf.float64)
    for _ in range(3):  # the streams stay in step call after call
        y, _ = backprop.forward(a, x, True)
        np.testing.assert_array_equal(y, b(x, training=True))


@pytest.mark.parametrize("shape,kwargs,training", [
    ((3, 4, 5, 2), {}, True),
    ((3, 4, 5, 2), {}, False),
    ((6, 3), dict(scale=False), True),
    ((1, 5, 3), dict(center=False), False),
    ((2, 3, 4, 5), dict(axis=1), True),
], ids=["images-train", "images-infer", "no-scale-train", "no-center-infer", "axis1"])
def test_batch_normalization(shape, kwargs, training):
    layer = layers.BatchNormalization(**kwargs)
    x = _variable(shape)
    layer(x)
    rng = np.random.default_rng(6)
    layer.moving_mean.assign(rng.standard_normal(layer.moving_mean.shape))
    layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    assert_matches_tape(layer, x, training=training)


@pytest.mark.parametrize("batch_size", [None, 7, tf.constant(9.0, tf.float64)])
def test_softmax_cross_entropy(batch_size):
    logits = _variable((5, 4))
    labels = np.random.default_rng(8).integers(0, 4, (5, 1))  # [B, 1], as Keras accepts
    n = 5 if batch_size is None else batch_size
    with tf.GradientTape() as tape:
        expected = losses.scaled_sparse_categorical_crossentropy(labels, logits, n)
    loss, dz = softmax_cross_entropy(logits, labels, batch_size)
    assert abs(float(loss - expected)) <= TOLERANCE
    assert float(tf.reduce_max(tf.abs(dz - tape.gradient(expected, logits)))) <= TOLERANCE
    check_gradients(lambda: tf.reshape(softmax_cross_entropy(logits, labels, batch_size)[0], [1]),
                    [logits], gradients=lambda r: [r[0] * softmax_cross_entropy(
                        logits, labels, batch_size)[1]])


def test_activation_without_backward_is_a_clear_error():
    layer = layers.Dense(3, activation=tf.nn.tanh, name="head")
    with pytest.raises(ValueError, match=r"activation 'tanh' of layer 'head'"):
        backprop.forward(layer, tf.ones([2, 4]), False)


def test_layer_without_backward_is_a_clear_error():
    class Square(layers.Layer):
        def _call(self, x, training):
            return x * x

    model = layers.Sequential([layers.Flatten(), Square(name="square")])
    with pytest.raises(NotImplementedError, match=r"layer 'square' of type Square"):
        backprop.loss_and_gradients(model, tf.ones([2, 3, 3, 1]), tf.constant([0, 1]))


@pytest.mark.parametrize("size,window,stride", [(11, 2, 2), (9, 3, 2), (7, 1, 3), (8, 3, 3),
                                                (10, 4, 2), (5, 5, 1), (13, 2, 4)])
def test_window_slice_is_the_strided_slice(size, window, stride):
    """The reshape-based slice equals x[:, d::s][:H'] for every offset, padded branch included."""
    x = tf.constant(np.arange(2 * size * (size + 1) * 3, dtype=np.float64).reshape(
        2, size, size + 1, 3))
    out = (geometry.output_size(size, window, stride, "VALID"),
           geometry.output_size(size + 1, window, stride, "VALID"))
    for offset in geometry.window_offsets((window, window)):
        expected = x.numpy()[:, offset[0]::stride, offset[1]::stride, :][:, :out[0], :out[1], :]
        np.testing.assert_array_equal(
            geometry.window_slice(x, offset, (stride, stride), out), expected)
