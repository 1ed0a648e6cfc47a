"""AdamW against keras.optimizers.AdamW over 30 steps, in float32 and float64."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import optimizers
from mnist_tf.optimizers import schedules

SHAPES = {"kernel": (3, 4), "bias": (4,), "gamma": (2, 2, 3)}
STEPS = 30  # a wrong term shows from the first step; 30 steps let the decay compound


def _run(optimizer, make_variable, dtype, steps=STEPS):
    """Minimises Σ ½‖θ − target‖² with a noisy gradient; returns the final θ of each variable."""
    rng = np.random.default_rng(0)
    variables = [make_variable(rng.standard_normal(s).astype(dtype), name=n)
                 for n, s in SHAPES.items()]
    targets = [rng.standard_normal(s).astype(dtype) for s in SHAPES.values()]
    noise = [[rng.standard_normal(s).astype(dtype) for s in SHAPES.values()]
             for _ in range(steps)]
    for t in range(steps):
        grads = [tf.convert_to_tensor(v) - target + n
                 for v, target, n in zip(variables, targets, noise[t])]
        optimizer.apply_gradients(zip(grads, variables))
    return [np.asarray(v) for v in variables]


def _worst(ours, theirs, dtype, steps=STEPS):
    a = _run(ours, tf.Variable, dtype, steps)
    b = _run(theirs, keras.Variable, dtype, steps)
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


@pytest.mark.parametrize("kwargs", [{}, dict(learning_rate=0.05, weight_decay=0.1, beta_1=0.8,
                                             beta_2=0.99, epsilon=1e-5)])
def test_float32_matches_keras(kwargs):
    assert _worst(optimizers.AdamW(**kwargs), keras.optimizers.AdamW(**kwargs), np.float32) <= 1e-6


def test_float64_matches_keras_to_round_off():
    # Keras keeps η in a float32 variable: an η exact in float32 compares the math alone.
    kwargs = dict(learning_rate=2.0 ** -6, weight_decay=0.25)
    assert _worst(optimizers.AdamW(**kwargs), keras.optimizers.AdamW(**kwargs),
                  np.float64) <= 1e-12


def _excluding(optimizer):
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma"])
    return optimizer


def test_excluded_variables_are_not_decayed_as_in_keras():
    assert _worst(_excluding(optimizers.AdamW(0.05, weight_decay=0.5)),
                  _excluding(keras.optimizers.AdamW(0.05, weight_decay=0.5)), np.float32,
                  steps=30) <= 1e-6
    plain = _run(optimizers.Adam(0.05), tf.Variable, np.float32, steps=30)
    excluded = _run(_excluding(optimizers.AdamW(0.05, weight_decay=0.5)), tf.Variable,
                    np.float32, steps=30)
    np.testing.assert_array_equal(excluded[1], plain[1])  # the bias: Adam alone
    assert np.max(np.abs(excluded[0] - plain[0])) > 1e-3  # the kernel: decayed


def test_with_a_schedule_matches_keras():
    ours = optimizers.AdamW(schedules.CosineDecay(0.0, 80, warmup_target=0.05, warmup_steps=20))
    theirs = keras.optimizers.AdamW(keras.optimizers.schedules.CosineDecay(
        0.0, 80, warmup_target=0.05, warmup_steps=20))
    assert _worst(ours, theirs, np.float32, steps=40) <= 1e-6


def test_decay_is_decoupled_from_the_gradient():
    theta = tf.Variable([2.0, -4.0])
    optimizer = optimizers.AdamW(0.1, weight_decay=0.5)
    optimizer.apply_gradients([(tf.zeros(2), theta)])  # g = 0: Adam moves nothing
    np.testing.assert_allclose(theta.numpy(), [2.0 * 0.95, -4.0 * 0.95], rtol=1e-6)
