"""layers.bias: z = y + b with tf.nn.bias_add, and its hand-written gradient Σ δ summed in float32."""

import mnist_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import layers, precision
from mnist_tf.layers import bias


def _tape_gradients(fn, y, b, weights):
    with tf.GradientTape() as tape:
        tape.watch([y, b])
        loss = tf.reduce_sum(tf.cast(fn(y, b), tf.float64) * weights)
    return tape.gradient(loss, [y, b])


@pytest.mark.parametrize("shape", [[3, 5, 4, 6], [7, 6]])
@pytest.mark.parametrize("traced", [False, True])
def test_float64_equals_the_tape_of_y_plus_b(shape, traced):
    rng = np.random.default_rng(0)
    y, b, weights = (tf.constant(rng.normal(size=s)) for s in (shape, shape[-1:], shape))
    add = tf.function(bias.add_bias) if traced else bias.add_bias
    np.testing.assert_array_equal(add(y, b), y + b)
    ours = _tape_gradients(add, y, b, weights)
    plain = _tape_gradients(lambda y, b: y + b, y, b, weights)
    np.testing.assert_array_equal(ours[0], plain[0])  # ∂L/∂y = δ
    np.testing.assert_allclose(ours[1], plain[1], rtol=1e-14)  # ∂L/∂b = Σ δ (another order)


@pytest.mark.parametrize("compute", [tf.bfloat16, tf.float16])
def test_a_16_bit_bias_gradient_is_the_exact_sum_rounded_once(compute):
    """43,264 terms (a batch of 64 of conv1's 26×26 positions) of mean 1e-3: the sum is
    accumulated in float32, so it errs by one rounding to the compute dtype (u = 2⁻⁸ bfloat16,
    2⁻¹¹ float16), where a sum accumulated in the 16-bit dtype loses most of it (measured for
    TensorFlow's BiasAddGrad in bfloat16: 16.5 for 46.1)."""
    rng = np.random.default_rng(1)
    dz = tf.cast(rng.normal(1e-3, 1e-2, (64, 26, 26, 32)), compute)
    exact = np.sum(tf.cast(dz, tf.float64).numpy(), axis=(0, 1, 2))
    y = tf.zeros([64, 26, 26, 32], compute)
    b = tf.Variable(tf.zeros([32], tf.float32))
    with tf.GradientTape() as tape:
        z = bias.add_bias(y, b)
        loss = tf.reduce_sum(tf.cast(z * dz, tf.float32))  # ∂loss/∂z = dz
    gradient = tape.gradient(loss, b)
    assert z.dtype == compute and gradient.dtype == tf.float32
    unit_roundoff = {tf.bfloat16: 2.0 ** -8, tf.float16: 2.0 ** -11}[compute]
    np.testing.assert_allclose(gradient.numpy(), exact, rtol=2 * unit_roundoff, atol=1e-6)


def test_a_dense_layer_under_mixed_bfloat16_reads_its_float32_bias():
    dense = precision.set_policy(layers.Dense(3, seed=0), "mixed_bfloat16")
    x = tf.ones([4, 2])
    with tf.GradientTape() as tape:
        out = dense(x)
        loss = tf.reduce_sum(tf.cast(out, tf.float32))
    kernel_grad, bias_grad = tape.gradient(loss, [dense.kernel, dense.bias])
    assert out.dtype == tf.bfloat16 and dense.bias.dtype == tf.float32
    assert bias_grad.dtype == kernel_grad.dtype == tf.float32
    np.testing.assert_array_equal(bias_grad, [4.0, 4.0, 4.0])  # Σ over the batch of 4 of 1
