"""BatchNormalization against keras.layers.BatchNormalization (the oracle).

Same weights, same inputs: outputs in both modes, gradients with respect to the
input, γ and β, and the moving statistics after 20 training calls. Under
MirroredStrategy (the 2 logical CPUs conftest splits the CPU into) each replica uses its own batch
statistics and the moving statistics read outside the replicas are their mean.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import distribute, layers


def _x(shape, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 3 + 1.5).astype(dtype)


def _pair(shape, dtype="float32", **kwargs):
    """Our layer and Keras's, built on ``shape`` with the same random γ, β and moving stats."""
    ours = layers.BatchNormalization(**kwargs)
    theirs = keras.layers.BatchNormalization(dtype=dtype, **kwargs)
    ours(tf.zeros(shape, dtype))
    theirs.build(shape)
    rng = np.random.default_rng(7)
    values = [rng.uniform(0.5, 1.5, v.shape).astype(dtype) for v in ours.trainable_variables]
    values += [rng.standard_normal(ours.moving_mean.shape).astype(dtype),
               rng.uniform(0.5, 2.0, ours.moving_variance.shape).astype(dtype)]
    variables = [*ours.trainable_variables, *ours.non_trainable_variables]
    for v, value in zip(variables, values):
        v.assign(value)
    theirs.set_weights(values)
    return ours, theirs


def _run(layer, weights, x, training):
    """(output, ∂(Σ y·r)/∂x, [∂/∂w]) with a fixed random r."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        objective = tf.reduce_sum(y * tf.constant(_x(y.shape, seed=1, dtype=y.dtype.name)))
    gx, *gw = tape.gradient(objective, [x, *weights])
    return [y.numpy(), gx.numpy(), *[g.numpy() for g in gw]]


def _max_differences(ours, theirs, x, training):
    mine = _run(ours, ours.trainable_variables, x, training)
    keras_ = _run(theirs, [w.value for w in theirs.trainable_weights], x, training)
    return [float(np.max(np.abs(a - b))) for a, b in zip(mine, keras_)]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape, axis", [((4, 5, 5, 3), -1), ((8, 6), -1), ((4, 3, 5, 5), 1)])
def test_outputs_and_gradients_match_keras(training, shape, axis):
    ours, theirs = _pair(shape, axis=axis)
    differences = _max_differences(ours, theirs, _x(shape), training)
    assert len(differences) == 4  # output, ∂x, ∂γ, ∂β
    assert max(differences) <= 1e-5, differences


def test_float64_matches_keras_to_round_off():
    ours, theirs = _pair((4, 5, 5, 3), dtype="float64")
    for training in (True, False):
        assert max(_max_differences(ours, theirs, _x((4, 5, 5, 3), dtype=np.float64),
                                    training)) <= 1e-12


def test_moving_statistics_after_20_training_calls_match_keras():
    ours, theirs = _pair((6, 4, 4, 5), momentum=0.9)
    for step in range(20):
        x = _x((6, 4, 4, 5), seed=step) * (1 + step / 10)
        ours(x, training=True)
        theirs(x, training=True)
    np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.moving_variance.numpy(), theirs.moving_variance.numpy(),
                               rtol=1e-6)
    x = _x((6, 4, 4, 5), seed=99)
    np.testing.assert_allclose(ours(x), theirs(x, training=False), atol=1e-5)


def test_training_normalises_by_the_batch_and_inference_by_the_moving_statistics():
    bn = layers.BatchNormalization(center=False, scale=False)
    x = _x((64, 3))
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(0), x.var(0) / (x.var(0) + 1e-3), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn(x).numpy(), (x - bn.moving_mean.numpy())
                               / np.sqrt(bn.moving_variance.numpy() + 1e-3), rtol=1e-5)
    assert bn.trainable_variables == ()


def test_variables_names_order_and_trainability():
    bn = layers.BatchNormalization()
    bn(tf.zeros((2, 4, 4, 8)))
    names = [v.name.split("/")[-1] for v in (*bn.trainable_variables, *bn.non_trainable_variables)]
    assert names == ["gamma:0", "beta:0", "moving_mean:0", "moving_variance:0"]
    assert all(not v.trainable for v in bn.non_trainable_variables)
    assert len(bn.variables) == 4  # tf.Module tracks all four (checkpoints, SavedModel)
    with pytest.raises(ValueError, match="axis 2 must be a known"):
        layers.BatchNormalization(axis=2)(tf.zeros((2, 3)))


def test_moving_statistics_survive_a_checkpoint(tmp_path):
    bn = layers.BatchNormalization()
    bn(_x((8, 3)), training=True)
    path = tf.train.Checkpoint(layer=bn).write(str(tmp_path / "ckpt"))
    restored = layers.BatchNormalization()
    restored(tf.zeros((1, 3)))
    tf.train.Checkpoint(layer=restored).read(path).assert_consumed()
    np.testing.assert_array_equal(restored.moving_mean.numpy(), bn.moving_mean.numpy())
    np.testing.assert_array_equal(restored.moving_variance.numpy(), bn.moving_variance.numpy())


def test_tf_function_equals_eager_and_half_precision_computes_in_float32():
    eager, graph = layers.BatchNormalization(), layers.BatchNormalization()
    x = _x((5, 4, 4, 2))
    step = tf.function(lambda x: graph(x, training=True))
    for _ in range(3):
        np.testing.assert_array_equal(eager(x, training=True), step(x))
    np.testing.assert_array_equal(eager.moving_variance.numpy(), graph.moving_variance.numpy())
    half = layers.BatchNormalization()
    y = half(tf.cast(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16 and half.gamma.dtype == tf.float32


def test_under_mirrored_strategy_each_replica_uses_its_own_batch_statistics():
    strategy = distribute.make_strategy("mirrored", num_cpu_devices=2)
    with strategy.scope():
        bn = layers.BatchNormalization(momentum=0.5, center=False, scale=False)
        bn(tf.zeros((1, 2)))
    # Replica 0 sees values around 0, replica 1 around 10: different batch statistics.
    x = np.concatenate([np.random.default_rng(0).standard_normal((4, 2)),
                        10 + np.random.default_rng(1).standard_normal((4, 2))]).astype("float32")
    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x).unbatch()
                                                       .batch(8))
    step = tf.function(lambda x: strategy.run(lambda x: bn(x, training=True), args=(x,)))
    outputs = strategy.experimental_local_results(step(next(iter(dataset))))
    assert strategy.num_replicas_in_sync == 2
    # Each replica's output is centred by its own half's mean (per-replica statistics).
    np.testing.assert_allclose([o.numpy().mean(0) for o in outputs], 0, atol=1e-5)
    # Each copy of the moving mean moved halfway (momentum 0.5) to its own batch's mean ...
    local_moving_means = [v.numpy() for v in strategy.experimental_local_results(bn.moving_mean)]
    np.testing.assert_allclose(local_moving_means,
                               np.array([x[:4].mean(0), x[4:].mean(0)]) * 0.5, rtol=1e-5)
    # ... and a read outside the replicas (evaluation, checkpoints) is their mean.
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(local_moving_means, axis=0),
                               rtol=1e-5)
