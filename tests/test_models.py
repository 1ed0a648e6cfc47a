"""The reference CNN against the same Keras Sequential model, plus the model helpers."""

import mnist_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_oracle import twins as keras_twins

from mnist_tf import losses, models

KERAS_NAMES = ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten", "dropout",
               "dense"]


@pytest.fixture(scope="module")
def pair():
    """Our built CNN and Keras's, with our weights copied into Keras's."""
    ours = models.build(models.keras_example_cnn(seed=0))
    return ours, keras_twins.copy_weights(ours, keras_twins.TWINS["keras_example_cnn"]())


def _batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 28, 28, 1), dtype=np.float32),
            rng.integers(0, 10, n).astype(np.int32))


def _logits_and_gradients(model, variables, images, labels):
    with tf.GradientTape() as tape:
        logits = model(images, training=False)
        loss = tf.reduce_mean(losses.sparse_categorical_crossentropy(labels, logits, True))
    return logits.numpy(), [g.numpy() for g in tape.gradient(loss, variables)]


def test_logits_and_gradients_equal_keras(pair):
    ours, theirs = pair
    images, labels = _batch()
    logits, grads = _logits_and_gradients(ours, ours.trainable_variables, images, labels)
    k_logits, k_grads = _logits_and_gradients(theirs, [w.value for w in theirs.trainable_weights],
                                              images, labels)
    # The same ops on the same weights: the logits are bit-identical, and so are the kernel
    # gradients; a bias gradient is a sum over the batch that the two graphs reduce in another
    # order, so it may differ in the last bits (measured 5e-8 on values of ~0.1).
    np.testing.assert_array_equal(logits, k_logits)
    assert len(grads) == len(k_grads) == 6
    for g, k_g, variable in zip(grads, k_grads, ours.trainable_variables):
        if variable.name.endswith("kernel:0"):
            np.testing.assert_array_equal(g, k_g)
        else:
            np.testing.assert_allclose(g, k_g, rtol=0, atol=2e-7)


def test_parameter_count_and_layers_like_keras(pair):
    ours, theirs = pair
    assert models.count_params(ours) == theirs.count_params() == 34_826
    assert [layer.name for layer in ours.layers] == KERAS_NAMES
    assert [tuple(v.shape) for v in ours.trainable_variables] == [
        tuple(w.shape) for w in theirs.trainable_weights]


def test_summary_table(pair):
    text = models.summary(pair[0])
    for fragment in ["conv2d (Conv2D)", "(None, 26, 26, 32)", "18,496", "(None, 5, 5, 64)",
                     "dense (Dense)", "(None, 10)", "Total params: 34,826", "softmax"]:
        assert fragment in text, fragment


def test_summary_of_an_unbuilt_model_builds_it():
    assert "Total params: 34,826" in models.summary(models.keras_example_cnn(seed=None))


def test_eager_equals_tf_function_with_unknown_batch(pair):
    model = pair[0]
    f = tf.function(lambda x: model(x, training=False),
                    input_signature=[tf.TensorSpec([None, 28, 28, 1])])
    for n in (1, 7):
        images, _ = _batch(n, seed=n)
        np.testing.assert_allclose(f(images), model(images), atol=1e-6)


def test_dropout_only_in_training(pair):
    model = pair[0]
    images, _ = _batch(4)
    np.testing.assert_array_equal(model(images), model(images, training=False))
    assert not np.allclose(model(images, training=True), model(images))


def test_seeded_models_are_reproducible():
    a, b, c = (models.build(models.keras_example_cnn(seed=s)) for s in (1, 1, 2))
    images, _ = _batch(2)
    np.testing.assert_array_equal(a(images, training=True), b(images, training=True))
    assert not np.array_equal(a.trainable_variables[0], c.trainable_variables[0])


def test_predict_probabilities(pair):
    images, _ = _batch(5)
    probs = models.predict_probabilities(pair[0], images).numpy()
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probs, tf.nn.softmax(pair[0](images)), atol=1e-7)


def test_registry():
    assert models.MODELS["keras_example_cnn"] is models.keras_example_cnn
    model = models.get("keras_example_cnn", dropout_rate=0.0, seed=4)
    assert model.layers[5].rate == 0.0
    with pytest.raises(ValueError, match="unknown model 'resnet'; known: bn_cnn, keras_example_cnn"):
        models.get("resnet")


def test_checkpoint_round_trip(tmp_path):
    model = models.build(models.keras_example_cnn(seed=5))
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    other = models.build(models.keras_example_cnn(seed=6))
    tf.train.Checkpoint(model=other).restore(path).assert_consumed()
    images, _ = _batch(3)
    np.testing.assert_array_equal(other(images, training=True), model(images, training=True))


def test_count_params_of_an_unbuilt_model_is_a_clear_error():
    model = models.keras_example_cnn()
    with pytest.raises(ValueError, match="models.build"):
        models.count_params(model)
    models.build(model)
    assert models.count_params(model) == 34_826


def test_every_twin_is_one_of_our_models_and_make_twin_restores_the_policy():
    assert set(keras_twins.TWINS) <= set(models.MODELS)
    twin = keras_twins.make_twin("keras_example_cnn", policy="mixed_bfloat16")
    assert twin.layers[0].compute_dtype == "bfloat16"
    assert keras.mixed_precision.dtype_policy().name == "float32"
    with pytest.raises(ValueError, match="no Keras twin of 'resnet'; twins: bn_cnn"):
        keras_twins.make_twin("resnet")
    with pytest.raises(ValueError, match="12 weights in ours, 6 in the Keras twin"):
        keras_twins.paired_weights(models.build(models.get("keras_example_cnn_bn")),
                                   keras_twins.make_twin("keras_example_cnn"))
