"""The batch-normalized models (bn_cnn, keras_example_cnn_bn): shapes, parameter counts, and
equality with their Keras twins (``keras_oracle/twins.py``) given the same weights.

``keras_twins.copy_weights`` copies ours into a twin in Keras's order (per layer: kernel,
[bias] or γ, β, moving mean, moving variance).
"""

import json

import mnist_tf  # noqa: F401

import keras
import numpy as np
import pytest
import tensorflow as tf
from binaries import run_main
from keras_oracle import twins as keras_twins

from mnist_tf import models
from training_helpers import randomize_batch_norm

BN_MODELS = ["bn_cnn", "keras_example_cnn_bn"]


def _pair(name="bn_cnn"):
    ours = models.build(models.get(name, dropout_rate=0.0, seed=1))
    randomize_batch_norm(ours)  # non-trivial BN statistics and affine parameters
    return ours, keras_twins.copy_weights(ours, keras_twins.TWINS[name](dropout_rate=0.0))


def _images(n=8):
    return np.random.default_rng(2).random((n, 28, 28, 1), dtype=np.float32)


@pytest.mark.parametrize("name, trainable, moving", [("bn_cnn", 197_802, 640),
                                                     ("keras_example_cnn_bn", 34_922, 192)])
def test_registered_with_the_documented_shapes_and_parameter_count(name, trainable, moving):
    model = models.build(models.get(name))
    assert models.count_params(model) == trainable
    assert keras_twins.TWINS[name]().count_params() == trainable + moving
    assert model(tf.zeros((3, 28, 28, 1))).shape == (3, 10)


@pytest.mark.parametrize("name", BN_MODELS)
def test_logits_equal_the_keras_twin_in_both_modes(name):
    """Inference (moving statistics) and training (batch statistics, then the moving
    statistics updated): the same logits and the same new moving statistics."""
    ours, theirs = _pair(name)
    x = _images()
    np.testing.assert_allclose(ours(x), theirs(x, training=False), atol=1e-5)
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), atol=1e-4)
    for a, b in zip([v for layer in ours.layers for v in getattr(layer, "non_trainable_variables",
                                                                 ())],
                    theirs.non_trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)  # moving stats updated alike


@pytest.mark.parametrize("name", BN_MODELS)
def test_loss_gradients_equal_the_keras_twin(name):
    ours, theirs = _pair(name)
    x, y = _images(), np.arange(8) % 10
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        ours_loss = loss(y, ours(x, training=True))
    grads = tape.gradient(ours_loss, ours.trainable_variables)
    with tf.GradientTape() as tape:
        keras_loss = loss(y, theirs(x, training=True))
    keras_grads = tape.gradient(keras_loss, [w.value for w in theirs.trainable_weights])
    assert len(grads) == len(keras_grads)
    for g, k in zip(grads, keras_grads):
        np.testing.assert_allclose(g, k, atol=1e-4 * max(1.0, float(np.max(np.abs(k)))))


@pytest.mark.slow
def test_compare_keras_runs_a_batch_normalized_model(tmp_path):
    """``bin/compare_keras.py --model=...`` trains a BN model beside its twin: in float64 the
    two stay together to round-off, moving statistics included."""
    result = run_main("compare_keras", "--model=keras_example_cnn_bn", "--steps=5",
                      "--batch_size=32", "--logdir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["model"] == "keras_example_cnn_bn" and summary["steps"] == 5
    assert summary["max_loss_difference"] < 1e-12, summary
    assert summary["max_weight_difference"] < 1e-12, summary
