"""``backprop.loss_and_gradients`` on the whole reference CNN: equal to the tape, in every setting.

Float64: the loss and all eight gradients equal ``tf.GradientTape``'s to ≤ 1e-10
with dropout off and on (the same mask: the generators are rewound between the
two); 100 Adam steps with each end at the same weights (≤ 1e-9, dropout on);
it works with the tape and ``tf.gradients`` replaced by functions that raise;
inside a ``tf.function`` it is traced once for every batch size, holds no
gradient op at all (no ``*Grad``, no ``*Backprop*``) and groups its ops by layer
under ``backward/``; under a strategy it runs in replica context.
"""

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import backprop, layers, losses, models
from mnist_tf.optimizers import Adam

TOLERANCE = 1e-10


def _cnn(dtype=tf.float64, seed=0, side=28, name="keras_example_cnn"):
    model = models.get(name, seed=seed)
    model(tf.zeros([1, side, side, 1], dtype))
    return model


def _batch(size, seed=0, dtype=tf.float64, side=28):
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.random((size, side, side, 1)), dtype),
            tf.constant(rng.integers(0, 10, size), tf.int32))


def _rewinder(model):
    """A function putting every dropout generator of ``model`` back where it is now."""
    states = [(layer.generator, layer.generator.state.numpy())
              for layer in model.layers if hasattr(layer, "generator")]
    return lambda: [g.state.assign(s) for g, s in states]


def _tape_loss_and_gradients(model, images, labels, training=True, global_batch_size=None):
    """What the training step computes with the tape."""
    n = tf.shape(labels)[0] if global_batch_size is None else global_batch_size
    with tf.GradientTape() as tape:
        logits = model(images, training=training)
        loss = losses.scaled_sparse_categorical_crossentropy(labels, logits, n)
    return loss, tape.gradient(loss, model.trainable_variables)


def _max_difference(a, b):
    return max(float(tf.reduce_max(tf.abs(tf.cast(x, tf.float64) - tf.cast(y, tf.float64))))
               for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)))


def _compare(model, images, labels, training, global_batch_size=None):
    rewind = _rewinder(model)
    manual = backprop.loss_and_gradients(model, images, labels, training, global_batch_size)
    rewind()
    taped = _tape_loss_and_gradients(model, images, labels, training, global_batch_size)
    assert [g.shape for g in manual[1]] == [v.shape for v in model.trainable_variables]
    assert [g.dtype for g in manual[1]] == [v.dtype for v in model.trainable_variables]
    return _max_difference(manual, taped)


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training-dropout"])
def test_reference_cnn_equals_tape(training):
    model = _cnn()
    images, labels = _batch(3)
    worst = _compare(model, images, labels, training)
    print(f"whole CNN, training={training}: max |manual − tape| = {worst:.3g}")
    assert worst <= TOLERANCE


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training-dropout"])
def test_bn_cnn_equals_tape(training):
    """The deeper model: Conv2D without bias, BatchNormalization, Activation, Dense into BN."""
    model = _cnn(name="bn_cnn")
    images, labels = _batch(2)
    assert _compare(model, images, labels, training) <= TOLERANCE


def test_global_batch_size_and_batch_of_one():
    model = _cnn()
    images, labels = _batch(1, seed=1)
    assert _compare(model, images, labels, True, tf.constant(4.0, tf.float64)) <= TOLERANCE


def test_float32_close_to_tape():
    model = _cnn(tf.float32)
    images, labels = _batch(4, dtype=tf.float32)
    assert _compare(model, images, labels, True) <= 1e-5


def _train(manual, steps=100, batch=3, side=14):
    """Adam in float64 on a fixed random stream; returns the final weights.

    The reference CNN's layers on 14×14 images (conv 12, pool 6, conv 4, pool 2,
    256 features into the Dense): the same backward code, a fifth of the work.
    """
    model, optimizer = _cnn(side=side), Adam()

    @tf.function(autograph=False)  # nothing to convert: AutoGraph would only cost seconds
    def step(images, labels):
        if manual:
            loss, gradients = backprop.loss_and_gradients(model, images, labels)
        else:
            loss, gradients = _tape_loss_and_gradients(model, images, labels)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    for i in range(steps):
        step(*_batch(batch, seed=100 + i, side=side))
    return [v.numpy() for v in model.trainable_variables]


def test_100_adam_steps_end_at_the_same_weights():
    manual, taped = _train(manual=True), _train(manual=False)
    worst = max(np.max(np.abs(a - b)) for a, b in zip(manual, taped))
    initial = [v.numpy() for v in _cnn(side=14).trainable_variables]
    moved = max(np.max(np.abs(a - b)) for a, b in zip(manual, initial))
    print(f"100 Adam steps: max weight difference {worst:.3g} (weights moved up to {moved:.3g})")
    assert worst <= 1e-9 and moved > 1e-2


def test_works_without_any_autodiff(monkeypatch):
    model = _cnn()
    images, labels = _batch(2)
    rewind = _rewinder(model)
    expected = _tape_loss_and_gradients(model, images, labels)

    def refuse(*args, **kwargs):
        raise AssertionError("autodiff was asked for a gradient")

    for name in ("GradientTape", "gradients", "custom_gradient"):
        monkeypatch.setattr(tf, name, refuse)
    monkeypatch.setattr(tf.autodiff, "GradientTape", refuse)
    rewind()
    manual = backprop.loss_and_gradients(model, images, labels)
    assert _max_difference(manual, expected) <= TOLERANCE
    rewind()
    traced = tf.function(backprop.loss_and_gradients, autograph=False)(model, images, labels)
    assert _max_difference(traced, expected) <= TOLERANCE


def test_in_a_tf_function_traced_once_without_gradient_ops():
    model = _cnn()
    traces = []

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float64),
                                  tf.TensorSpec([None], tf.int32)])
    def step(images, labels):
        traces.append(1)
        return backprop.loss_and_gradients(model, images, labels, training=False)

    for size in (5, 2):  # a full and a partial batch
        images, labels = _batch(size, seed=size)
        assert _max_difference(step(images, labels),
                               backprop.loss_and_gradients(model, images, labels, False)) == 0
    assert len(traces) == 1
    # Dropout on, so that every layer has backward ops (a traced, never-run graph).
    graph = tf.function(backprop.loss_and_gradients, autograph=False).get_concrete_function(
        model, *step.input_signature).graph
    op_types = {op.type for op in graph.get_operations()}
    assert not [t for t in op_types if t.endswith("Grad") or "Backprop" in t], sorted(op_types)
    names = [op.name for op in graph.get_operations()]
    for layer in ("dense", "dropout", "flatten", "max_pooling2d_1", "conv2d_1", "max_pooling2d"):
        assert any(name.startswith(f"backward/{layer}/") for name in names), layer
    assert any(name.startswith("backward/conv2d/") for name in names)


def test_in_replica_context():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = _cnn()
    images, labels = _batch(2)
    expected = _tape_loss_and_gradients(model, images, labels, training=False)

    @tf.function(autograph=False)  # nothing to convert: AutoGraph would only cost seconds
    def step(images, labels):
        return strategy.run(backprop.loss_and_gradients, args=(model, images, labels, False))

    assert _max_difference(step(images, labels), expected) <= TOLERANCE


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_batch_normalization_and_nested_sequential_in_the_chain(training):
    model = layers.Sequential([
        layers.Conv2D(3, 3, strides=2, padding="same", activation="relu", seed=0),
        layers.BatchNormalization(),
        layers.Sequential([layers.MaxPool2D(2, strides=1, padding="same"), layers.Flatten()],
                          name="inner"),
        layers.Dense(5, seed=1),
    ])
    rng = np.random.default_rng(9)
    images = tf.constant(rng.standard_normal((3, 9, 8, 2)))
    labels = tf.constant(rng.integers(0, 5, 3), tf.int32)
    model(images)
    bn = model.layers[1]
    bn.gamma.assign(rng.uniform(0.5, 1.5, 3))
    bn.beta.assign(rng.standard_normal(3))
    bn.moving_mean.assign(rng.standard_normal(3))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, 3))
    assert _compare(model, images, labels, training) <= TOLERANCE
