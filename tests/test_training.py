"""The training loop on small synthetic data: it learns, never retraces, logs, checkpoints, resumes."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import models, optimizers
from mnist_tf.errors import CheckpointError, SettingError
from mnist_tf.runs import checkpoints, saved_runs
from mnist_tf.training import config as config_lib
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from mnist_tf.training.step_metrics import StepMetrics
from mnist_tf.training.step import make_eval_step, make_train_step
from training_helpers import synthetic_mnist

# explain/* images off: a few CPU-seconds an epoch end, tested in test_explain_summaries.py
# and test_tensorboard.py
QUICK = TrainConfig(epochs=2, batch_size=32, log_every=2, export=False, explain_images=False)


def quiet(*_):
    pass


def test_train_step_is_traced_once_and_learns():
    data = synthetic_mnist()
    model = models.keras_example_cnn(seed=1)
    models.build(model)
    optimizer = optimizers.get("adam", 1e-3)
    optimizer.build(model.trainable_variables)
    step = make_train_step(model, optimizer)
    images = tf.cast(data.x_train[..., None], tf.float32) / 255.0
    labels = tf.cast(data.y_train, tf.int32)
    losses = []
    for epoch in range(3):
        for start in range(0, 512, 96):  # batches of 96 and a last one of 32: varying sizes
            out = step(images[start:start + 96], labels[start:start + 96])
            losses.append(float(out["loss"]))
    assert step.experimental_get_tracing_count() == 1
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    assert int(optimizer.iterations) == 18


def test_a_step_made_for_an_unbuilt_model_builds_it_and_trains():
    data = synthetic_mnist()
    model = models.keras_example_cnn(seed=1)  # no variables yet
    optimizer = optimizers.get("adam", 1e-3)
    step = make_train_step(model, optimizer)
    images = tf.cast(data.x_train[:64, ..., None], tf.float32) / 255.0
    step(images, tf.cast(data.y_train[:64], tf.int32))
    assert len(model.trainable_variables) == 6
    assert int(optimizer.iterations) == 1
    before = [v.numpy() for v in model.trainable_variables]
    step(images, tf.cast(data.y_train[:64], tf.int32))
    assert all(np.any(a != b.numpy()) for a, b in zip(before, model.trainable_variables))


@pytest.mark.parametrize("loss_scale", [False, True])
def test_the_gradients_a_step_returns_are_the_ones_it_applied(loss_scale):
    data = synthetic_mnist()
    model = models.build(models.keras_example_cnn(seed=1))
    optimizer = optimizers.get("sgd", 0.5)  # θ ← θ − η g: the applied g is (θ_before − θ) / η
    if loss_scale:  # the tape then gives ∂(S·L)/∂θ; the histograms must show ∂L/∂θ
        optimizer = optimizers.LossScaleOptimizer(optimizer, initial_scale=1024.0)
    step = make_train_step(model, optimizer)
    images = tf.cast(data.x_train[:64, ..., None], tf.float32) / 255.0
    before = [v.numpy() for v in model.trainable_variables]
    out = step(images, tf.cast(data.y_train[:64], tf.int32))
    for b, v, g in zip(before, model.trainable_variables, out["gradients"]):
        np.testing.assert_allclose((b - v.numpy()) / 0.5, g.numpy(), atol=1e-6)
    assert any(float(tf.reduce_max(tf.abs(g))) > 0 for g in out["gradients"])


def test_step_metrics_sum_on_the_device_what_the_step_returns():
    data = synthetic_mnist()
    model = models.build(models.keras_example_cnn(seed=1))
    sums = StepMetrics()
    step = make_train_step(model, optimizers.get("adam", 1e-3), step_metrics=sums)
    images = tf.cast(data.x_train[..., None], tf.float32) / 255.0
    labels = tf.cast(data.y_train, tf.int32)
    assert len(labels) >= 300
    outs = [step(images[i:i + 100], labels[i:i + 100]) for i in (0, 100, 200)]
    epoch, window = sums.read_and_reset_window().numpy()
    expected = [sum(float(o["loss"]) * float(o["count"]) for o in outs),
                sum(float(o["correct"]) for o in outs), 300]
    np.testing.assert_allclose(epoch, expected, rtol=1e-6)
    np.testing.assert_allclose(window, expected, rtol=1e-6)
    _, window = sums.read_and_reset_window().numpy()
    assert not window.any()  # the window starts again; the epoch goes on


def test_eval_step_matches_a_direct_computation():
    data = synthetic_mnist()
    model = models.keras_example_cnn(seed=2)
    images = tf.cast(data.x_test[..., None], tf.float32) / 255.0
    labels = tf.cast(data.y_test, tf.int32)
    out = make_eval_step(model)(images, labels)
    logits = model(images, training=False)
    expected_loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    np.testing.assert_allclose(float(out["loss_sum"]), float(expected_loss), rtol=1e-5)
    predicted = np.argmax(logits.numpy(), axis=1)
    assert float(out["correct"]) == float(np.sum(predicted == data.y_test))
    np.testing.assert_array_equal(out["predictions"].numpy(), predicted)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One QUICK run, for the tests that read it or resume a copy: (logdir, metrics, data)."""
    data = synthetic_mnist()
    logdir = str(tmp_path_factory.mktemp("quick") / "run")
    return logdir, train_and_evaluate(QUICK, logdir, data=data, log=quiet), data


# the tests of one quick_run on one pytest-xdist worker (it trains once)
shares_quick_run = pytest.mark.xdist_group("test_training_quick_run")


@shares_quick_run
def test_a_run_learns_and_writes_metrics_and_checkpoints(quick_run):
    logdir, metrics, _ = quick_run
    assert metrics["test_accuracy"] > 0.9
    saved = json.loads(open(os.path.join(logdir, "metrics.json")).read())
    assert saved["test_accuracy"] == metrics["test_accuracy"]
    for key in ("train", "validation", "test"):
        assert set(saved[key]) == {"loss", "accuracy"}
    assert saved["epochs"] == 2 and saved["train_images_per_second"] > 0
    assert saved["wall_seconds"] > 0
    assert tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints")).endswith("ckpt-2")


@shares_quick_run
def test_metrics_json_reports_peak_memory(quick_run):
    _, metrics, _ = quick_run
    assert 100 < metrics["peak_rss_mb"] < 4000


@shares_quick_run
def test_resumed_after_the_last_epoch_its_figures_come_from_the_checkpoint(quick_run, tmp_path):
    """Resumed after the last epoch (as after a kill during the final test or export, before
    metrics.json): nothing is trained, the last epoch's training and validation figures come
    from the checkpoint. (A resumed run equals an uninterrupted one: test_train_bin.py, after
    a SIGKILL, and test_reliability.py, mid-epoch.)"""
    finished, metrics, data = quick_run
    logdir = str(tmp_path / "run")
    shutil.copytree(finished, logdir)
    os.remove(os.path.join(logdir, "metrics.json"))
    again = train_and_evaluate(QUICK, logdir, data=data, resume=True, log=quiet)
    assert again["epochs_run_this_session"] == 0
    assert again["train"] == metrics["train"] and again["validation"] == metrics["validation"]
    assert again["test"] == pytest.approx(metrics["test"])


def test_a_checkpoint_dir_outside_the_logdir_is_found_again(tmp_path):
    """A run whose checkpoints are elsewhere is found from its logdir: to resume it, and to
    refuse a new run there without resume."""
    data = synthetic_mnist()
    config = QUICK.replace(epochs=1, checkpoint_dir=str(tmp_path / "elsewhere"))
    train_and_evaluate(config, str(tmp_path / "run"), data=data, log=quiet)
    assert tf.train.latest_checkpoint(str(tmp_path / "elsewhere")).endswith("ckpt-1")
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert saved_runs.find_checkpoint(str(tmp_path / "run")).endswith("elsewhere/ckpt-1")
    with pytest.raises(CheckpointError, match="already holds a run: resume it"):
        train_and_evaluate(QUICK.replace(epochs=1), str(tmp_path / "run"), data=data, log=quiet)
    saved = config_lib.load(str(tmp_path / "run" / "config.json"))
    metrics = train_and_evaluate(saved.replace(epochs=2), str(tmp_path / "run"), data=data,
                                 resume=True, log=quiet)
    assert metrics["epochs_run_this_session"] == 1 and metrics["steps"] == 2 * 15


def test_no_validation_split_writes_null_not_nan(tmp_path):
    train_and_evaluate(QUICK.replace(epochs=1, validation_split=0.0), str(tmp_path / "r"),
                       data=synthetic_mnist(), log=quiet)
    text = (tmp_path / "r" / "metrics.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["validation"] == {"loss": None, "accuracy": None}


def test_a_truncated_checkpoint_is_a_one_line_error_on_resume(tmp_path):
    logdir = tmp_path / "run"
    train_and_evaluate(QUICK.replace(epochs=1), str(logdir), data=synthetic_mnist(), log=quiet)
    shard = next((logdir / "checkpoints").glob("ckpt-1.data-*"))
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="ckpt-1: cannot restore the run") as error:
        train_and_evaluate(QUICK, str(logdir), data=synthetic_mnist(), resume=True, log=quiet)
    assert "\n" not in str(error.value)
    with pytest.raises(CheckpointError, match="ckpt-1: cannot restore the model"):
        saved_runs.load_model(str(logdir))


def test_a_relative_checkpoint_dir_is_found_from_any_working_directory(tmp_path, monkeypatch):
    data = synthetic_mnist()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    logdir = str(tmp_path / "run")
    monkeypatch.chdir(tmp_path / "a")
    train_and_evaluate(QUICK.replace(epochs=1, checkpoint_dir="ck"), logdir, data=data, log=quiet)
    monkeypatch.chdir(tmp_path / "b")
    assert saved_runs.find_checkpoint(logdir) == str(tmp_path / "a" / "ck" / "ckpt-1")
    saved = config_lib.load(os.path.join(logdir, "config.json"))
    metrics = train_and_evaluate(saved.replace(epochs=2), logdir, data=data, resume=True,
                                 log=quiet)
    assert metrics["epochs_run_this_session"] == 1
    assert not (tmp_path / "b" / "ck").exists()


def _run_checkpointed_before_epoch_metrics(logdir, epochs_done):
    """What a run checkpointed before EpochMetrics were added left behind: no metrics in it."""
    model = models.build(models.keras_example_cnn(seed=QUICK.seed))
    optimizer = optimizers.get("adam", 1e-3)
    optimizer.build(model.trainable_variables)
    state = checkpoints.RunState(QUICK.seed)
    state.epoch.assign(epochs_done)
    tf.train.Checkpoint(model=model, optimizer=optimizer, state=state).save(
        str(logdir / "checkpoints" / "ckpt"))
    config_lib.save(QUICK, str(logdir / "config.json"))


def test_a_checkpoint_written_before_epoch_metrics_existed_still_resumes(tmp_path):
    _run_checkpointed_before_epoch_metrics(tmp_path / "old", epochs_done=1)
    metrics = train_and_evaluate(QUICK, str(tmp_path / "old"), data=synthetic_mnist(),
                                 resume=True, log=quiet)
    assert metrics["epochs_run_this_session"] == 1
    assert metrics["train"]["accuracy"] > 0.5  # the epoch run now fills them in

    # With nothing left to train, the figures it never had are null in metrics.json.
    _run_checkpointed_before_epoch_metrics(tmp_path / "done", epochs_done=QUICK.epochs)
    metrics = train_and_evaluate(QUICK, str(tmp_path / "done"), data=synthetic_mnist(),
                                 resume=True, log=quiet)
    assert metrics["epochs_run_this_session"] == 0
    assert metrics["train"] == {"loss": None, "accuracy": None}
    saved = json.loads((tmp_path / "done" / "metrics.json").read_text())
    assert saved["train"]["loss"] is None


@pytest.mark.parametrize("field,value", [("epochs", 0), ("batch_size", -1),
                                         ("learning_rate", 0.0), ("learning_rate", float("inf")),
                                         ("learning_rate", float("nan")), ("validation_split", 1.0),
                                         ("optimizer", "rmsprop"), ("seed", -1),
                                         ("model", "resnet")])
def test_out_of_range_settings_are_named(field, value):
    with pytest.raises(SettingError, match=f"^{field} must be") as error:
        TrainConfig(**{field: value}).validate()
    assert error.value.setting == field


@pytest.mark.parametrize("epochs,steps_per_epoch", [(2, 4), (1, 1)])
def test_profile_writes_a_trace_tensorboard_can_open(tmp_path, epochs, steps_per_epoch):
    # A window cut by the end of a run: 2 x 4 steps, or a single step (the trace read by the Profile
    # tab's plugin: test_reliability.py).
    logdir = tmp_path / "run"
    config = QUICK.replace(profile=True, epochs=epochs, steps_per_epoch=steps_per_epoch)
    train_and_evaluate(config, str(logdir), data=synthetic_mnist(), log=quiet)
    traces = list(logdir.glob("plugins/profile/*/*.xplane.pb"))
    assert len(traces) == 1 and traces[0].stat().st_size > 10_000
