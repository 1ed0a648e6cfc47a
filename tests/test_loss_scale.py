"""LossScaleOptimizer against keras.optimizers.LossScaleOptimizer, and its pieces, and its
replica-context path on the 2 logical CPUs conftest splits the CPU into.
"""

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf.optimizers import SGD, Adam, LossScaleOptimizer, update_scale
from mnist_tf.optimizers.loss_scale import all_finite

SHAPES = [(3, 4), (5,)]
# step → (variable index, value) written into that step's scaled gradient
INJECTED = {3: (0, np.inf), 4: (1, np.nan), 11: (1, -np.inf), 25: (0, np.nan), 26: (0, np.inf),
            27: (1, np.inf)}


@pytest.mark.parametrize("scale, counter, finite, expected", [
    (8.0, 0, True, (8.0, 1)),
    (8.0, 3, True, (8.0, 4)),
    (8.0, 4, True, (16.0, 0)),   # the 5th finite step in a row doubles S
    (8.0, 4, False, (4.0, 0)),
    (8.0, 2, False, (4.0, 0)),
])
def test_update_scale(scale, counter, finite, expected):
    new_scale, new_counter = update_scale(tf.constant(scale), tf.constant(counter, tf.int64),
                                          tf.constant(finite), 5)
    assert (float(new_scale), int(new_counter)) == expected


def test_all_finite():
    ones = tf.ones([2, 2])
    assert bool(all_finite([ones, None, ones]))
    assert not bool(all_finite([ones, tf.constant([1.0, np.inf])]))
    assert not bool(all_finite([tf.constant([np.nan]), ones]))


def test_plain_optimizers_scale_loss_is_the_identity():
    loss = tf.constant(0.25)
    assert SGD().scale_loss(loss) is loss and Adam().scale_loss(loss) is loss


def _gradients(steps, seed=0):
    """Unscaled float32 gradients per step, and the steps' injected non-finite entries."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
            for _ in range(steps)]


def _scaled(raw, step, scale):
    grads = [g * np.float32(scale) for g in raw]
    if step in INJECTED:
        index, value = INJECTED[step]
        grads[index] = grads[index].copy()
        grads[index].flat[0] = value
    return grads


def _initial_values():
    rng = np.random.default_rng(1)
    return [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]


def _run_ours(steps, growth_steps, use_function):
    variables = [tf.Variable(v) for v in _initial_values()]
    optimizer = LossScaleOptimizer(Adam(0.01), initial_scale=2.0 ** 15,
                                   dynamic_growth_steps=growth_steps)

    def apply(grads):
        optimizer.apply_gradients(zip(grads, variables))

    if use_function:
        apply = tf.function(apply)
    scales, iterations = [], []
    for step, raw in enumerate(_gradients(steps)):
        scale = float(optimizer.dynamic_scale.numpy())
        apply([tf.constant(g) for g in _scaled(raw, step, scale)])
        scales.append(scale)
        iterations.append(int(optimizer.iterations.numpy()))
    return scales, iterations, [v.numpy() for v in variables]


def _run_keras(steps, growth_steps):
    import keras

    variables = [keras.Variable(v) for v in _initial_values()]
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.01),
                                                    initial_scale=2.0 ** 15,
                                                    dynamic_growth_steps=growth_steps)
    optimizer.build(variables)
    scales, iterations = [], []
    for step, raw in enumerate(_gradients(steps)):
        scale = float(optimizer.dynamic_scale.numpy())
        optimizer.apply([tf.constant(g) for g in _scaled(raw, step, scale)], variables)
        scales.append(scale)
        iterations.append(int(optimizer.iterations.numpy()))
    return scales, iterations, [v.numpy() for v in variables]


@pytest.fixture(scope="module")
def keras_run():
    return _run_keras(40, 5)


@pytest.mark.parametrize("use_function", [False, True], ids=["eager", "tf_function"])
def test_equals_keras_over_a_run_with_non_finite_gradients(keras_run, use_function):
    scales, iterations, values = _run_ours(40, 5, use_function)
    k_scales, k_iterations, k_values = keras_run
    assert scales == k_scales
    assert iterations == k_iterations
    # 6 injected steps skipped: the inner step counter advanced 34 times.
    assert iterations[-1] == 40 - len(INJECTED)
    # The scale both halved (skips) and doubled (5 finite steps in a row).
    changes = {b / a for a, b in zip(scales, scales[1:])}
    assert {0.5, 2.0} <= changes
    for ours, theirs in zip(values, k_values):
        np.testing.assert_array_equal(ours, theirs)


def test_a_skipped_step_changes_nothing_but_the_scale():
    variable = tf.Variable([1.0, 2.0])
    optimizer = LossScaleOptimizer(Adam(0.1), initial_scale=64.0, dynamic_growth_steps=3)
    optimizer.apply_gradients([(tf.constant([64.0, 64.0]), variable)])
    optimizer.apply_gradients([(tf.constant([64.0, 64.0]), variable)])
    before = [v.numpy() for v in (variable, *optimizer.inner_optimizer.slots["m"],
                                  *optimizer.inner_optimizer.slots["v"])]
    optimizer.apply_gradients([(tf.constant([np.nan, 1.0]), variable)])
    after = [v.numpy() for v in (variable, *optimizer.inner_optimizer.slots["m"],
                                 *optimizer.inner_optimizer.slots["v"])]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert int(optimizer.iterations) == 2
    assert float(optimizer.dynamic_scale) == 32.0 and int(optimizer.step_counter) == 0


def test_unscaled_gradient_reaches_the_inner_optimizer():
    variable = tf.Variable([1.0])
    optimizer = LossScaleOptimizer(SGD(0.5), initial_scale=1024.0)
    loss = lambda: 3.0 * variable[0]  # noqa: E731  ∂L/∂θ = 3
    with tf.GradientTape() as tape:
        scaled = optimizer.scale_loss(loss())
    grad = tape.gradient(scaled, [variable])
    assert float(scaled) == 3.0 * 1024.0 and float(grad[0][0]) == 3.0 * 1024.0
    optimizer.apply_gradients(zip(grad, [variable]))
    assert float(variable[0]) == 1.0 - 0.5 * 3.0


def test_state_is_checkpointed(tmp_path):
    variable = tf.Variable([1.0])
    optimizer = LossScaleOptimizer(Adam(), initial_scale=8.0, dynamic_growth_steps=2)
    optimizer.apply_gradients([(tf.constant([1.0]), variable)])
    path = tf.train.Checkpoint(optimizer=optimizer).save(str(tmp_path / "ckpt"))
    optimizer.apply_gradients([(tf.constant([np.inf]), variable)])
    assert float(optimizer.dynamic_scale) == 4.0
    tf.train.Checkpoint(optimizer=optimizer).restore(path).assert_consumed()
    assert float(optimizer.dynamic_scale) == 8.0 and int(optimizer.step_counter) == 1
    assert int(optimizer.iterations) == 1


def test_rejects_zero_growth_steps():
    with pytest.raises(ValueError, match="dynamic_growth_steps"):
        LossScaleOptimizer(Adam(), dynamic_growth_steps=0)


def test_mirrored_replicas_agree_on_a_skip():
    """One skipped step (inf on replica 1 only), then one applied step, on 2 logical CPUs."""
    from mnist_tf import distribute

    strategy = distribute.make_strategy("mirrored", num_cpu_devices=2)
    with strategy.scope():
        variable = tf.Variable([1.0, 2.0])
        optimizer = LossScaleOptimizer(Adam(0.1), initial_scale=1024.0)
        optimizer.build([variable])

    @tf.function
    def step(poison):
        def replica_fn():
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            bad = tf.logical_and(poison, tf.equal(replica, 1))
            grad = tf.where(bad, tf.constant([np.inf, 1.0]), tf.constant([512.0, 256.0]))
            optimizer.apply_gradients([(grad, variable)])
        strategy.run(replica_fn)

    def snapshot(v):
        return [x.numpy().tolist() for x in strategy.experimental_local_results(v)]

    assert strategy.num_replicas_in_sync == 2
    start = variable.numpy()
    scales, iterations = [], []
    step(tf.constant(True))
    skipped = np.array(snapshot(variable))
    scales.append(snapshot(optimizer.dynamic_scale))
    iterations.append(snapshot(optimizer.iterations))
    step(tf.constant(False))
    applied = np.array(snapshot(variable))
    scales.append(snapshot(optimizer.dynamic_scale))
    iterations.append(snapshot(optimizer.iterations))
    # Step 1: replica 1 alone saw an inf; both skipped and halved S. Step 2: finite, applied.
    assert scales == [[512.0, 512.0], [512.0, 512.0]]
    assert iterations == [[0, 0], [1, 1]]
    assert np.max(np.abs(skipped - start)) == 0.0  # the skipped step moved nothing
    assert np.max(np.abs(applied[0] - applied[1])) == 0.0  # the copies stay equal
    assert np.max(np.abs(applied - start)) > 0.0
