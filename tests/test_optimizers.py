"""SGD (plain, momentum, Nesterov) and Adam against Keras 3 over 30 steps; state; tf.distribute."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import optimizers

SHAPES = [(3, 4), (5,), (2, 2, 3)]
STEPS = 30  # a wrong term shows from the first steps, where the bias correction weighs most


def _run(optimizer, make_variable, steps=STEPS, seed=0):
    """Minimises Σ ½‖θ − target‖² with a noisy gradient (θ − target + noise); returns final θ."""
    rng = np.random.default_rng(seed)
    variables = [make_variable(rng.standard_normal(s).astype(np.float32)) for s in SHAPES]
    targets = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    noise = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(steps)]
    for t in range(steps):
        grads = [tf.convert_to_tensor(v) - target + n
                 for v, target, n in zip(variables, targets, noise[t])]
        optimizer.apply_gradients(zip(grads, variables))
    return [np.asarray(v) for v in variables]


def _assert_same_trajectory(ours, theirs):
    a = _run(ours, tf.Variable)
    b = _run(theirs, keras.Variable)
    worst = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    assert worst <= 1e-6, worst
    assert int(ours.iterations) == int(theirs.iterations) == STEPS


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True),
                                               (0.5, True)])
def test_sgd_matches_keras(momentum, nesterov):
    _assert_same_trajectory(optimizers.SGD(0.05, momentum=momentum, nesterov=nesterov),
                            keras.optimizers.SGD(0.05, momentum=momentum, nesterov=nesterov))


@pytest.mark.parametrize("kwargs", [{}, {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.99,
                                         "epsilon": 1e-5}])
def test_adam_matches_keras(kwargs):
    _assert_same_trajectory(optimizers.Adam(**kwargs), keras.optimizers.Adam(**kwargs))


def _ours_decay(step):
    return 0.1 * tf.pow(0.5, tf.cast(step, tf.float32) / 10.0)


def _keras_decay():
    return keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)


@pytest.mark.parametrize("name", ["adam", "momentum"])
def test_schedules_match_keras(name):
    if name == "adam":
        pair = optimizers.Adam(_ours_decay), keras.optimizers.Adam(_keras_decay())
    else:
        pair = (optimizers.SGD(_ours_decay, momentum=0.9),
                keras.optimizers.SGD(_keras_decay(), momentum=0.9))
    _assert_same_trajectory(*pair)


def test_current_learning_rate_follows_the_step():
    optimizer = optimizers.SGD(_ours_decay)
    np.testing.assert_allclose(optimizer.current_learning_rate(), 0.1)
    optimizer.iterations.assign(10)
    np.testing.assert_allclose(optimizer.current_learning_rate(), 0.05, rtol=1e-6)
    assert optimizers.Adam(3e-4).current_learning_rate().dtype == tf.float32


def test_pure_update_functions():
    g, m, v = np.float32(0.5), np.float32(0.1), np.float32(0.2)
    delta, m1, v1 = optimizers.adam_update(tf.constant(g), tf.constant(0.01), 0.9, 0.999, 1e-7,
                                           tf.constant(3.0), tf.constant(m), tf.constant(v))
    m_ref, v_ref = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
    alpha = 0.01 * np.sqrt(1 - 0.999 ** 3) / (1 - 0.9 ** 3)
    np.testing.assert_allclose([m1, v1], [m_ref, v_ref], rtol=1e-6)
    np.testing.assert_allclose(delta, -alpha * m_ref / (np.sqrt(v_ref) + 1e-7), rtol=1e-5)
    delta, m1 = optimizers.sgd_update(tf.constant(2.0), 0.1, 0.9, True, tf.constant(1.0))
    np.testing.assert_allclose([m1, delta], [0.9 - 0.2, 0.9 * 0.7 - 0.2], rtol=1e-6)
    delta, none = optimizers.sgd_update(tf.constant(2.0), 0.1)
    assert none is None and np.isclose(delta, -0.2)


def test_build_creates_tracked_slots_once():
    variables = [tf.Variable(tf.ones(s)) for s in SHAPES]
    adam = optimizers.Adam()
    adam.build(variables)
    adam.build(variables)
    assert [len(adam.slots["m"]), len(adam.slots["v"])] == [3, 3]
    assert adam.iterations.dtype == tf.int64 and not adam.trainable_variables
    assert len(adam.variables) == 7  # iterations + m, v per variable
    assert optimizers.SGD(0.1).slots == {} and len(optimizers.SGD(0.1, 0.9).slots["momentum"]) == 0


def test_checkpoint_holds_slots_and_step(tmp_path):
    def fresh():
        variables = [tf.Variable(tf.ones(s)) for s in SHAPES]
        adam = optimizers.Adam(0.1)
        adam.build(variables)
        return variables, adam

    variables, adam = fresh()
    adam.apply_gradients(zip([tf.ones(s) for s in SHAPES], variables))
    checkpoint = tf.train.Checkpoint(variables=variables, optimizer=adam)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    adam.apply_gradients(zip([tf.ones(s) for s in SHAPES], variables))
    expected = [v.numpy() for v in variables]

    variables, adam = fresh()
    tf.train.Checkpoint(variables=variables, optimizer=adam).restore(path).assert_consumed()
    assert int(adam.iterations) == 1
    adam.apply_gradients(zip([tf.ones(s) for s in SHAPES], variables))
    for v, e in zip(variables, expected):
        np.testing.assert_array_equal(v, e)


def test_tf_function_equals_eager_and_none_gradients_are_skipped():
    def trained(wrap):
        variables = [tf.Variable([1.0, 2.0]), tf.Variable([3.0])]
        adam = optimizers.Adam(0.1)
        adam.build(variables)
        step = wrap(lambda: adam.apply_gradients(zip([variables[0] * 2.0, None], variables)))
        for _ in range(5):
            step()
        return [v.numpy() for v in variables], int(adam.iterations)

    eager, graph = trained(lambda f: f), trained(tf.function)
    np.testing.assert_array_equal(eager[0][0], graph[0][0])
    np.testing.assert_array_equal(graph[0][1], [3.0])
    assert eager[1] == graph[1] == 5
