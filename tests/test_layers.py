"""Conv2D, MaxPool2D, Dense, Flatten and activations against Keras 3 (the oracle); Sequential's
own contract (training flag, variable order, name scopes).

Each layer and its Keras counterpart get the same weights (``set_weights``) and
the same random input; forward outputs and the gradients of Σ out·r (r random)
with respect to the input and every weight must agree within 1e-5. A whole
Sequential against its Keras twin is in ``tests/test_models.py``.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import layers

TOL = 1e-5


def _rng(seed=0):
    return np.random.default_rng(seed)


def run_layer(layer, x, weights):
    """(output, ∂(Σ out·r)/∂x, [∂/∂w for w in weights]) with r fixed by the output's shape."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x)
        r = tf.constant(_rng(1).standard_normal(out.shape), out.dtype)
        objective = tf.reduce_sum(out * r)
    grad_x, *grad_w = tape.gradient(objective, [x, *weights])
    return out.numpy(), grad_x.numpy(), [g.numpy() for g in grad_w]


def assert_close(a, b, what):
    scale = max(1.0, float(np.max(np.abs(b))) if np.size(b) else 1.0)  # relative where large
    assert np.max(np.abs(a - b), initial=0.0) <= TOL * scale, what


def assert_matches_keras(ours, theirs, x):
    ours(x)  # builds our variables from the input
    theirs.build(x.shape)
    theirs.set_weights([v.numpy() for v in ours.trainable_variables])
    out, gx, gw = run_layer(ours, x, list(ours.trainable_variables))
    k_out, k_gx, k_gw = run_layer(theirs, x, [w.value for w in theirs.trainable_weights])
    assert out.shape == k_out.shape
    assert_close(out, k_out, "forward")
    assert_close(gx, k_gx, "gradient wrt the input")
    for g, k_g, v in zip(gw, k_gw, ours.trainable_variables):
        assert_close(g, k_g, f"gradient wrt {v.name}")
    assert len(gw) == len(k_gw)


@pytest.mark.parametrize("kernel_size", [1, 3, 5, (3, 2)])
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_matches_keras(kernel_size, strides, padding):
    x = _rng().standard_normal((2, 9, 7, 3)).astype(np.float32)
    ours = layers.Conv2D(4, kernel_size, strides=strides, padding=padding, activation="relu",
                         seed=0)
    theirs = keras.layers.Conv2D(4, kernel_size, strides=strides, padding=padding,
                                 activation="relu")
    assert_matches_keras(ours, theirs, x)


def test_conv2d_without_bias_matches_keras():
    x = _rng().standard_normal((2, 8, 8, 2)).astype(np.float32)
    assert_matches_keras(layers.Conv2D(3, 3, use_bias=False, seed=0),
                         keras.layers.Conv2D(3, 3, use_bias=False), x)


@pytest.mark.parametrize("pool_size,strides", [(2, None), (3, None), (2, 1), (3, 2), ((2, 3), None)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_max_pool_matches_keras(pool_size, strides, padding):
    x = _rng().standard_normal((2, 11, 9, 3)).astype(np.float32)
    assert_matches_keras(layers.MaxPool2D(pool_size, strides, padding),
                         keras.layers.MaxPooling2D(pool_size, strides, padding), x)


@pytest.mark.parametrize("activation", [None, "relu", "softmax"])
def test_dense_matches_keras(activation):
    x = _rng().standard_normal((5, 12)).astype(np.float32)
    assert_matches_keras(layers.Dense(7, activation=activation, seed=0),
                         keras.layers.Dense(7, activation=activation), x)


def test_dense_on_rank_3_input_matches_keras():
    x = _rng().standard_normal((2, 3, 6)).astype(np.float32)
    assert_matches_keras(layers.Dense(4, seed=0), keras.layers.Dense(4), x)


def test_flatten_matches_keras():
    x = _rng().standard_normal((3, 5, 5, 4)).astype(np.float32)
    assert_matches_keras(layers.Flatten(), keras.layers.Flatten(), x)


def test_activations_match_keras():
    x = tf.constant(_rng().standard_normal((4, 10)) * 30, tf.float32)
    np.testing.assert_allclose(layers.relu(x), keras.activations.relu(x), atol=0)
    np.testing.assert_allclose(layers.softmax(x), keras.activations.softmax(x), atol=1e-6)
    assert layers.get(None)(x) is x
    assert layers.get("relu") is layers.relu and layers.get(tf.nn.elu) is tf.nn.elu
    with pytest.raises(ValueError, match="unknown activation 'tanhh'"):
        layers.get("tanhh")


def test_variables_have_keras_names_layouts_and_dtype():
    conv = layers.Conv2D(8, (3, 5), seed=0)
    dense = layers.Dense(6, seed=0)
    conv(tf.zeros([1, 10, 10, 2]))
    dense(tf.zeros([1, 4]))
    assert conv.kernel.shape == (3, 5, 2, 8) and conv.bias.shape == (8,)
    assert dense.kernel.shape == (4, 6) and dense.bias.shape == (6,)
    assert conv.kernel.name == "conv2d/kernel:0" and dense.bias.name == "dense/bias:0"
    assert [v.name for v in dense.trainable_variables] == ["dense/kernel:0", "dense/bias:0"]
    assert conv.kernel.dtype == tf.float32


def test_default_names_are_keras_base_names():
    names = [layers.Conv2D(1, 1).name, layers.MaxPool2D().name, layers.Dense(1).name,
             layers.Flatten().name, layers.Dropout(0.5).name, layers.Sequential([]).name]
    assert names == ["conv2d", "max_pooling2d", "dense", "flatten", "dropout", "sequential"]


def test_build_happens_once_and_takes_the_dtype_of_the_first_input():
    dense = layers.Dense(3, seed=0)
    dense(tf.zeros([2, 4], tf.float64))
    kernel = dense.kernel
    dense(tf.ones([5, 4], tf.float64))
    assert dense.kernel is kernel and kernel.dtype == tf.float64


def test_seeded_layers_are_reproducible():
    a, b, c = (layers.Conv2D(4, 3, seed=s) for s in (7, 7, 8))
    for layer in (a, b, c):
        layer(tf.zeros([1, 5, 5, 2]))
    np.testing.assert_array_equal(a.kernel, b.kernel)
    assert not np.array_equal(a.kernel, c.kernel)


def test_unknown_input_size_is_a_clear_error():
    dense = layers.Dense(3)
    spec = tf.TensorSpec([None, None])
    with pytest.raises(ValueError, match="last dimension of the input must be known"):
        tf.function(dense).get_concrete_function(spec)
    with pytest.raises(ValueError, match=r"expects images \[B, H, W, C\]"):
        layers.Conv2D(2, 3)(tf.zeros([4, 4]))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size must be a positive int or a pair"):
        layers.Conv2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="strides"):
        layers.MaxPool2D(2, strides=0)


def test_first_call_inside_tf_function_builds_eagerly():
    conv = layers.Conv2D(2, 3, seed=0)
    f = tf.function(lambda x: conv(x))
    out = f(tf.ones([1, 6, 6, 1]))
    assert out.shape == (1, 4, 4, 2)
    np.testing.assert_allclose(f(tf.ones([1, 6, 6, 1])), conv(tf.ones([1, 6, 6, 1])), atol=1e-6)


def test_sequential_passes_training_and_lists_variables_in_order():
    seen = []

    class Probe(layers.Layer):
        def _call(self, x, training):
            seen.append(training)
            return x

    model = layers.Sequential([layers.Dense(3, seed=0, name="a"), Probe(),
                               layers.Dense(2, seed=1, name="b")])
    model(tf.zeros([1, 4]), training=True)
    model(tf.zeros([1, 4]))
    assert seen == [True, False]
    assert [v.name for v in model.trainable_variables] == [
        "a/kernel:0", "a/bias:0", "b/kernel:0", "b/bias:0"]
    assert isinstance(model.layers, list) and len(model.layers) == 3


def test_ops_are_grouped_by_layer_name_scope():
    model = layers.Sequential([layers.Conv2D(2, 3, seed=0), layers.Flatten(),
                               layers.Dense(2, seed=0)], name="net")
    model(tf.zeros([1, 5, 5, 1]))
    graph = tf.function(model).get_concrete_function(tf.TensorSpec([None, 5, 5, 1])).graph
    names = [op.name for op in graph.get_operations()]
    # tf.Module scopes are absolute (fixed when the layer is made), so a layer's ops
    # sit under its own name, not under the model's.
    for scope in ("conv2d/", "flatten/", "dense/"):
        assert any(n.startswith(scope) for n in names), scope
