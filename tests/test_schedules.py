"""Learning-rate schedules against keras.optimizers.schedules at every step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_tf.optimizers import Adam, schedules

STEPS = np.arange(0, 1300, dtype=np.int64)


def _values(schedule, steps=STEPS):
    """The schedule at every step, one scalar step at a time (as the optimizer calls it)."""
    dtype = tf.convert_to_tensor(schedule(0)).dtype
    every_step = tf.function(lambda s: tf.map_fn(schedule, s, fn_output_signature=dtype),
                             reduce_retracing=True)
    return every_step(tf.constant(steps)).numpy()


EXPONENTIAL = [dict(initial_learning_rate=0.1, decay_steps=100, decay_rate=0.96),
               dict(initial_learning_rate=3e-3, decay_steps=422, decay_rate=0.5, staircase=True)]
COSINE = [dict(initial_learning_rate=1e-3, decay_steps=1000),
          dict(initial_learning_rate=0.1, decay_steps=700, alpha=0.05),
          dict(initial_learning_rate=0.0, decay_steps=900, warmup_target=3e-3, warmup_steps=250),
          dict(initial_learning_rate=1e-4, decay_steps=1000, alpha=0.01, warmup_target=2e-3,
               warmup_steps=100)]
CASES = ([(schedules.ExponentialDecay, keras.optimizers.schedules.ExponentialDecay, k)
          for k in EXPONENTIAL]
         + [(schedules.CosineDecay, keras.optimizers.schedules.CosineDecay, k) for k in COSINE])


@pytest.mark.parametrize("ours, theirs, kwargs", CASES)
def test_float64_equals_keras_at_every_step(ours, theirs, kwargs):
    # Keras computes in initial_learning_rate's dtype: float64 when it is a float64 number.
    # Its other Python floats (decay_rate, warmup_target) go through float32 on the way
    # (``ops.cast(0.96, "float64")``), so pass them as float64 too.
    keras_kwargs = {k: np.float64(v) if isinstance(v, float) else v for k, v in kwargs.items()}
    expected = _values(theirs(**keras_kwargs))
    actual = _values(ours(**kwargs))
    assert actual.dtype == expected.dtype == np.float64
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("ours, theirs, kwargs", CASES)
def test_float32_equals_keras_to_float32_rounding(ours, theirs, kwargs):
    expected = _values(theirs(**kwargs))  # a Python float: Keras computes in float32
    actual = _values(ours(**kwargs)).astype(np.float32)
    # Keras's float32 cos(π·d/D) is off by ~1 ulp of 1; near the end of the cosine that
    # is a large *relative* error of a tiny η, so the bound is relative to the peak η.
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7 * np.max(expected))


def test_formulas():
    exponential = schedules.ExponentialDecay(0.1, 100, 0.5, staircase=True)
    assert float(exponential(250)) == pytest.approx(0.1 * 0.25)
    cosine = schedules.CosineDecay(0.0, 100, warmup_target=1.0, warmup_steps=10)
    assert [float(cosine(s)) for s in (0, 5, 10, 60, 110, 500)] == pytest.approx(
        [0.0, 0.5, 1.0, 0.5, 0.0, 0.0], abs=1e-12)


def test_piecewise_linear_is_np_interp():
    schedule = schedules.PiecewiseLinear((0, 300, 1000), (0.0, 4e-3, 1e-5))
    np.testing.assert_allclose(_values(schedule), np.interp(STEPS, (0, 300, 1000),
                                                            (0.0, 4e-3, 1e-5)), rtol=1e-12)
    with pytest.raises(ValueError, match="increase"):
        schedules.PiecewiseLinear((0, 0), (1.0, 2.0))


def test_the_optimizer_reads_the_schedule_at_its_restored_step():
    schedule = schedules.CosineDecay(1e-3, 100, warmup_target=1e-2, warmup_steps=10)
    optimizer = Adam(schedule)
    optimizer.iterations.assign(37)  # as a restored checkpoint would set it
    assert optimizer.current_learning_rate(tf.float64).numpy() == schedule(37).numpy()
    assert optimizer.current_learning_rate().dtype == tf.float32
