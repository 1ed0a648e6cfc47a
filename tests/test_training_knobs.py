"""The loop's knobs: steps per call, mixed precision, schedules, augmentation, label smoothing."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from mnist_tf import export, layers, losses, models, optimizers
from mnist_tf.runs import saved_runs
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from mnist_tf.training.datasets import RunData
from mnist_tf.runs.run import Run
from mnist_tf.training.step_metrics import StepMetrics
from mnist_tf.training.step import make_train_loop, make_train_step
from mnist_tf.data import pipeline
from training_helpers import Log, scalar_steps, step_graph_functions, synthetic_mnist, weights

# explain/* images off: a few CPU-seconds an epoch end, tested in test_explain_summaries.py
# and test_tensorboard.py
QUICK = TrainConfig(epochs=2, batch_size=32, log_every=4, export=False, explain_images=False)


def quiet(*_):
    pass


class Killed(Exception):
    pass


def _float64_model_and_data(n=530):
    rng = np.random.default_rng(0)
    images = rng.random((n, 28, 28, 1))
    labels = rng.integers(0, 10, n).astype(np.int32)
    model = models.keras_example_cnn(seed=4)  # dropout on: the generator's stream must match
    model(tf.zeros([1, 28, 28, 1], tf.float64))
    optimizer = optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(10)  # 53 batches
    return model, optimizer, dataset


def test_fifty_steps_per_call_end_where_single_steps_end_in_float64():
    model, optimizer, dataset = _float64_model_and_data()
    sums = StepMetrics()
    signature = (tf.TensorSpec([None, 28, 28, 1], tf.float64), tf.TensorSpec([None], tf.int32))
    step = make_train_step(model, optimizer, input_signature=signature, step_metrics=sums)
    for images, labels in dataset:
        step(images, labels)
    single, single_sums = weights(model), sums.read_and_reset_window().numpy()

    model, optimizer, dataset = _float64_model_and_data()
    sums = StepMetrics()
    loop = make_train_loop(model, optimizer, step_metrics=sums)
    batches = iter(dataset)
    loop(batches, tf.constant(50))  # 50 steps in one call, then the partial last group of 3
    loop(batches, tf.constant(3))
    assert int(optimizer.iterations) == 53
    assert loop.experimental_get_tracing_count() <= 2
    for a, b in zip(single, weights(model)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    np.testing.assert_allclose(single_sums, sums.read_and_reset_window().numpy(), rtol=1e-12)


def _scalars(logdir, tag):
    accumulator = event_accumulator.EventAccumulator(
        os.path.join(logdir, "train"), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """QUICK with one step per call and the tape, trained once for the tests that compare
    another setting with it: (logdir, metrics, data)."""
    data = synthetic_mnist()
    logdir = str(tmp_path_factory.mktemp("quick") / "run")
    return logdir, train_and_evaluate(QUICK, logdir, data=data, log=quiet), data


# the tests of one quick_run on one pytest-xdist worker (it trains once)
shares_quick_run = pytest.mark.xdist_group("test_training_knobs_quick_run")


@shares_quick_run
def test_steps_per_loop_gives_the_run_a_one_step_loop_gives(quick_run, tmp_path):
    one_logdir, one, data = quick_run
    seven = train_and_evaluate(QUICK.replace(steps_per_loop=7), str(tmp_path / "seven"),
                               data=data, log=quiet)
    assert seven["steps"] == one["steps"] == 30
    assert seven["train"]["loss"] == pytest.approx(one["train"]["loss"], rel=1e-6)
    assert seven["test"]["accuracy"] == one["test"]["accuracy"]
    a, b = _scalars(one_logdir, "step/loss"), _scalars(str(tmp_path / "seven"), "step/loss")
    assert sorted(a) == sorted(b) == [4, 8, 12, 16, 20, 24, 28]
    for s in a:
        assert a[s] == pytest.approx(b[s], rel=1e-6)


def test_a_cosine_schedule_is_logged_and_continues_after_a_resume(tmp_path):
    """Killed right after the first checkpoint and resumed, the run's logged rates are
    Keras's cosine schedule at every logged step: the resume went on from its step (that a
    resumed run ends with an uninterrupted one's weights: tests/test_interrupts.py)."""
    data = synthetic_mnist()
    config = QUICK.replace(epochs=3, lr_schedule="cosine", warmup_steps=10, learning_rate=3e-3)
    save = Run.save

    def save_then_die(self, epoch, *args, **kwargs):
        save(self, epoch, *args, **kwargs)
        if epoch == 1:
            raise Killed

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Run, "save", save_then_die)
        with pytest.raises(Killed):
            train_and_evaluate(config, str(tmp_path), data=data, log=quiet)
    log = Log()
    train_and_evaluate(config, str(tmp_path), data=data, resume=True, log=log)
    assert "ckpt-1: 1 epoch and 0 batches done, step 15" in log.text()  # not from the start
    assert saved_runs.find_checkpoint(str(tmp_path)).endswith("ckpt-3")
    keras = pytest.importorskip("keras")
    expected = keras.optimizers.schedules.CosineDecay(0.0, 45 - 10, warmup_target=3e-3,
                                                      warmup_steps=10)
    logged = _scalars(str(tmp_path), "step/learning_rate")
    steps = scalar_steps(tmp_path / "train")["step/learning_rate"]
    assert sorted(steps) == list(range(4, 45, 4))  # each once, before the kill (15) and after
    for step, lr in logged.items():  # logged after `step` steps: the rate of the next one
        assert lr == pytest.approx(float(expected(step)), rel=1e-5, abs=1e-9)


def test_augmentation_changes_only_the_training_images_and_replays_from_any_batch():
    data = synthetic_mnist()
    strategy = tf.distribute.get_strategy()
    plain = RunData(QUICK, data, strategy)
    augmented = RunData(QUICK.replace(augment=True), data, strategy)
    first = [x.numpy() for x, _ in plain.train_epoch(seed=0, epoch=1)]
    moved = [x.numpy() for x, _ in augmented.train_epoch(seed=0, epoch=1)]
    assert len(first) == len(moved) == 15
    assert all(np.abs(a - b).max() > 0.1 for a, b in zip(first, moved))
    again = [x.numpy() for x, _ in augmented.train_epoch(seed=0, epoch=1, skip_batches=5)]
    for a, b in zip(moved[5:], again):
        np.testing.assert_array_equal(a, b)  # a resumed epoch sees the same maps
    for (x1, _), (x2, _) in zip(plain.validation_batches(), augmented.validation_batches()):
        np.testing.assert_array_equal(x1.numpy(), x2.numpy())


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_a_mixed_precision_run_learns_and_exports_float32_probabilities(tmp_path, precision):
    data = synthetic_mnist()
    logdir = str(tmp_path / "run")
    # 15 steps of 8 images at η = 1e-2: measured test accuracy 1.0 under both policies. Small
    # batches, for float16's convolution gradients, which oneDNN computes ~10× slower than
    # TensorFlow's own kernels (~25 ms an image on a Xeon with AVX-512 FP16 and AMX).
    config = QUICK.replace(epochs=1, batch_size=8, steps_per_epoch=15, learning_rate=1e-2,
                           precision=precision, export=True)
    metrics = train_and_evaluate(config, logdir, data=data, log=quiet,
                                 export_fn=export.export_saved_model)
    assert metrics["test_accuracy"] > 0.9
    model, _ = saved_runs.load_model(logdir)
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)  # master weights
    served = tf.saved_model.load(os.path.join(logdir, "export"))
    out = served.signatures["serving_default"](images=tf.constant(data.x_test[:5]))
    probabilities = out["probabilities"]
    assert probabilities.dtype == tf.float32
    np.testing.assert_allclose(probabilities.numpy().sum(axis=1), 1.0, rtol=1e-5)


def _one_step_run(tmp_path, monkeypatch, **settings):
    """One training step (a single batch of 32, dropout off) with ``settings``; returns the
    run's metrics, its final weights, and the images, labels and initial model it started from."""
    get = models.get
    monkeypatch.setattr(models, "get", lambda name, **kw: get(name, dropout_rate=0.0, **kw))
    data = synthetic_mnist(n_train=32, n_test=8)
    config = QUICK.replace(epochs=1, validation_split=0.0, log_every=1, **settings)
    metrics = train_and_evaluate(config, str(tmp_path / "run"), data=data, log=quiet)
    initial = models.build(models.get(config.model, seed=config.seed))
    images, labels = pipeline.to_float(data.x_train), data.y_train.astype(np.int32)
    return metrics, weights(str(tmp_path / "run")), images, labels, initial


def test_label_smoothing_trains_on_the_keras_smoothed_loss(tmp_path, monkeypatch):
    """The one step's training loss is Keras's CategoricalCrossentropy(label_smoothing=0.1) at
    the initial weights (0.001 from the unsmoothed loss, 1e-5 apart: an ignored knob fails)."""
    import keras

    metrics, _, images, labels, initial = _one_step_run(tmp_path, monkeypatch,
                                                        label_smoothing=0.1)
    logits = initial(images, training=False)
    onehot = tf.one_hot(labels, 10)
    smoothed = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    plain = keras.losses.CategoricalCrossentropy(from_logits=True)
    expected, unsmoothed = float(smoothed(onehot, logits)), float(plain(onehot, logits))
    assert abs(expected - unsmoothed) > 5e-4
    assert metrics["train"]["loss"] == pytest.approx(expected, abs=1e-5)


def test_adamw_takes_the_keras_adamw_step(tmp_path, monkeypatch):
    """One step of optimizer=adamw ends where keras.optimizers.AdamW's step ends from the same
    weights and gradients (decoupled decay η λ θ with λ = 0.5: 5e-4 θ, which plain Adam lacks)."""
    import keras

    from keras_oracle import twins as keras_twins

    _, ours, images, labels, initial = _one_step_run(tmp_path, monkeypatch, optimizer="adamw",
                                                     weight_decay=0.5)
    twin = keras_twins.copy_weights(initial, keras_twins.make_twin(QUICK.model,
                                                                   dropout_rate=0.0))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def keras_step(optimizer):
        model = keras_twins.copy_weights(initial, keras.models.clone_model(twin))
        with tf.GradientTape() as tape:
            value = loss(labels, model(images, training=True))
        optimizer.apply_gradients(zip(tape.gradient(value, model.trainable_variables),
                                      model.trainable_variables))
        pairs = keras_twins.paired_weights(initial, model)
        mine = {id(v): i for i, v in enumerate(initial.trainable_variables)}
        return {mine[id(v)]: np.asarray(w) for v, w in pairs if id(v) in mine}

    def agreeing(theirs):
        """The fraction of weights within 1e-6 (float32 round-off can flip the sign of a
        near-zero gradient, which Adam's first step turns into a step of ±η on that weight)."""
        close = [np.isclose(ours[i], w, rtol=0, atol=1e-6) for i, w in theirs.items()]
        return np.mean(np.concatenate([c.ravel() for c in close]))

    learning_rate = QUICK.learning_rate
    assert agreeing(keras_step(keras.optimizers.AdamW(learning_rate, weight_decay=0.5))) > 0.99
    assert agreeing(keras_step(keras.optimizers.Adam(learning_rate))) < 0.5


@pytest.fixture(scope="module")
def manual_run(quick_run, tmp_path_factory):
    """quick_run's training with --gradients=manual: (logdir, metrics)."""
    _, _, data = quick_run
    logdir = str(tmp_path_factory.mktemp("manual") / "run")
    return logdir, train_and_evaluate(QUICK.replace(gradients="manual"), logdir, data=data,
                                      log=quiet)


@shares_quick_run
def test_manual_gradients_train_as_the_tape_does(quick_run, manual_run):
    """--gradients=manual: the hand-written backward inside the same step, dropout on."""
    (tape_logdir, tape, _), (manual_logdir, manual) = quick_run, manual_run
    assert manual["test"]["accuracy"] == tape["test"]["accuracy"]
    # float32 round-off (~1e-7) can flip the sign of a near-zero gradient, which Adam turns
    # into steps of up to ±η = 1e-3 on that weight, and a few of those spread over the next
    # steps; float64 runs agree to 1e-15 (tests/test_backprop.py). Most weights still agree to
    # far less than a step: the median over all of them (one short vector's median moves with
    # the CPU's summation order: conv1's 32 biases 2.3e-5 on a Xeon with AVX-512, under 1e-5
    # on a Zen 3).
    tape_weights, manual_weights = weights(tape_logdir), weights(manual_logdir)
    for a, b in zip(tape_weights, manual_weights):
        np.testing.assert_allclose(a, b, atol=2e-3)
        assert np.median(np.abs(a - b)) < 1e-4  # each tensor, a bias or conv1 as much as any
    differences = [np.abs(a - b).ravel() for a, b in zip(tape_weights, manual_weights)]
    assert np.median(np.concatenate(differences)) < 1e-5


def _float32_gradients_and_magnitudes(model, images, labels, label_smoothing):
    """The float32 ``model``'s gradients (the tape's) and, for each, A, the sum of the
    magnitudes of the terms it adds up: |x|ᵀ|δ| for a kernel (correlated over the positions,
    for a Conv2D), Σ|δ| for a bias, with x the layer's input and δ = ∂L/∂z before its
    activation."""
    inputs, outputs = [], []
    with tf.GradientTape() as tape:
        x = images
        for layer in model.layers:
            inputs.append(x)
            x = layer(x, training=True)
            outputs.append(x)
        loss = losses.scaled_sparse_categorical_crossentropy(labels, x, len(labels),
                                                             label_smoothing)
    gradients, output_gradients = tape.gradient(loss, [model.trainable_variables, outputs])
    magnitudes = []
    for layer, x, y, dy in zip(model.layers, inputs, outputs, output_gradients):
        if isinstance(layer, (layers.Conv2D, layers.Dense)):
            dz = tf.abs(dy) * (tf.cast(y > 0, dy.dtype) if layer.activation is layers.relu else 1)
            if isinstance(layer, layers.Conv2D):
                kernel = tf.compat.v1.nn.conv2d_backprop_filter(
                    tf.abs(x), layer.kernel.shape, dz, [1, *layer.strides, 1],
                    layer.padding.upper())
            else:
                kernel = tf.matmul(tf.abs(x), dz, transpose_a=True)
            magnitudes += [kernel, tf.reduce_sum(dz, axis=list(range(dz.shape.rank - 1)))]
    return gradients, magnitudes


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_manual_gradients_under_mixed_precision_match_the_tape(precision):
    """The hand-written backward in the compute dtype, float16's loss scale included: its
    gradients, and the tape's, are the float32 gradients to the compute dtype's round-off.

    Each gradient g sums products x·δ (conv1's kernel: 64·26·26 = 43,264 a weight), each off
    by a few roundings of u (2⁻⁸ bfloat16, 2⁻¹¹ float16): ‖g − g_float32‖ is of the order of
    u‖A‖, A the sums of the terms' magnitudes, and the terms cancel: ‖A‖ is 2‖g‖ (dense) to
    60‖g‖ (conv1's bias). The two passes round differently: Conv2DBackpropFilter accumulates
    bfloat16 in float32, while the hand-written kernel gradient (an einsum) rounds its partial
    sums to bfloat16 on a CPU without bfloat16 dot products, for twice the tape's error on
    conv1's kernel and elements up to 12% apart. Hence each pass against float32, in norm
    (element by element, a ReLU on in one dtype and off in the other breaks any bound).
    Measured ‖g − g_float32‖ / u‖A‖ over 6 data and model seeds: at most 0.87 (bfloat16) and
    1.6 (float16), for both passes; the bound is 4. Broken on purpose, the hand-written
    backward measured 6.4 to 127 (no ReLU mask, an unrotated or flipped kernel, max pooling's
    δ spread over the window, a bias gradient missing one example, label smoothing or the
    loss scale left out).
    """
    from mnist_tf import precision as precision_lib
    from mnist_tf.training.step import manual_train_step, train_step

    data = synthetic_mnist()
    images = tf.cast(data.x_train[:64, ..., None], tf.float32) / 255.0
    labels = tf.cast(data.y_train[:64], tf.int32)

    def model(policy):  # the same initial weights under every policy
        return models.build(precision_lib.set_policy(models.keras_example_cnn(
            seed=2, dropout_rate=0.0), policy))

    expected, magnitudes = _float32_gradients_and_magnitudes(model("float32"), images, labels,
                                                             0.1)
    results = []
    for step in (train_step, manual_train_step):  # each on its own copy of the same model
        optimizer = optimizers.Adam()
        if precision_lib.get(precision).needs_loss_scaling:
            optimizer = optimizers.LossScaleOptimizer(optimizer, initial_scale=1024.0)
        results.append(step(model(precision), optimizer, images, labels, 64, 0.1))
    (tape_loss, _, tape_grads), (loss, logits, grads) = results
    assert logits.dtype == tf.float32
    assert float(loss) == pytest.approx(float(tape_loss), rel=1e-6)
    u = {"mixed_bfloat16": 2.0 ** -8, "mixed_float16": 2.0 ** -11}[precision]
    for i, (g, t, e, a) in enumerate(zip(grads, tape_grads, expected, magnitudes)):
        assert g.dtype == tf.float32
        bound = 4 * u * float(tf.norm(a))
        for name, gradient in (("tape", t), ("manual", g)):
            error = float(tf.norm(gradient - e))
            assert error <= bound, (name, i, error / (u * float(tf.norm(a))))


@shares_quick_run
def test_the_manual_backward_shows_in_the_graph_grouped_by_layer(manual_run):
    logdir, _ = manual_run
    graphs = step_graph_functions(os.path.join(logdir, "train"))
    step = max(graphs, key=lambda names: sum("backward/" in name for name in names))
    for layer in ("conv2d", "conv2d_1", "max_pooling2d", "dropout", "dense"):
        assert any(f"backward/{layer}/" in name for name in step), layer
    ops = [n.split("/")[-1].split("_")[0] for n in step]  # e.g. MaxPoolGrad, Conv2DBackpropInput
    assert not [op for op in ops if op.endswith("Grad") or "Backprop" in op]  # no autodiff
