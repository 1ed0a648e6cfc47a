"""Dropout: off at inference, the right rate and scale in training, a checkpointed random stream."""

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf.layers import Dropout


def test_inactive_when_not_training():
    x = tf.random.normal([8, 16])
    layer = Dropout(0.5, seed=0)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_rate_of_zeros_and_scale_when_training():
    rate = 0.3
    out = Dropout(rate, seed=0)(tf.ones([200, 500]), training=True).numpy()
    assert abs(np.mean(out == 0) - rate) < 0.01
    np.testing.assert_allclose(out[out != 0], 1 / (1 - rate), rtol=1e-6)
    assert abs(out.mean() - 1.0) < 0.01  # E[y] = x


def test_gradient_is_the_mask_times_the_scale():
    x = tf.random.normal([50, 40])
    layer = Dropout(0.5, seed=1)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    grad = tape.gradient(y, x).numpy()
    np.testing.assert_allclose(grad, np.where(y.numpy() != 0, 2.0, 0.0))


def test_rate_zero_is_the_identity():
    x = tf.random.normal([4, 4])
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True), x)


def test_invalid_rate():
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        Dropout(1.0)


def test_seeded_streams_repeat_and_differ_per_call():
    a, b = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    x = tf.ones([10, 10])
    first = a(x, training=True)
    np.testing.assert_array_equal(first, b(x, training=True))
    assert not np.array_equal(first, a(x, training=True))  # the stream advances


def test_generator_is_tracked_but_not_trainable(tmp_path):
    layer = Dropout(0.5, seed=0)
    assert layer.trainable_variables == () and not layer.generator.state.trainable
    path = tf.train.Checkpoint(layer=layer).save(str(tmp_path / "ckpt"))
    saved = [name for name, _ in tf.train.list_variables(path)]
    assert any(name.startswith("layer/generator/") for name in saved), saved


def test_checkpoint_restores_the_random_stream(tmp_path):
    layer = Dropout(0.5, seed=0)
    x = tf.ones([16, 16])
    layer(x, training=True)
    checkpoint = tf.train.Checkpoint(layer=layer)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    expected = layer(x, training=True)
    checkpoint.restore(path).assert_consumed()
    np.testing.assert_array_equal(layer(x, training=True), expected)
    fresh = Dropout(0.5, seed=99)  # a different seed: the checkpoint decides
    tf.train.Checkpoint(layer=fresh).restore(path).assert_consumed()
    np.testing.assert_array_equal(fresh(x, training=True), expected)


def test_works_in_tf_function_with_unknown_batch():
    layer = Dropout(0.5, seed=0)
    f = tf.function(lambda x: layer(x, training=True),
                    input_signature=[tf.TensorSpec([None, 8])])
    out = f(tf.ones([5, 8]))
    assert out.shape == (5, 8) and set(np.unique(out.numpy())) <= {0.0, 2.0}
