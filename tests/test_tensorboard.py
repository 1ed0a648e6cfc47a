"""A short run's event files, read back with TensorBoard's own reader: every tag is there."""

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from training_helpers import step_graph_functions, synthetic_mnist


def _read(run_dir):
    accumulator = event_accumulator.EventAccumulator(
        run_dir, size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return accumulator


def _plugin(accumulator, tag):
    return accumulator.SummaryMetadata(tag).plugin_data.plugin_name


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("tb") / "run")
    config = TrainConfig(epochs=2, batch_size=32, log_every=4, export=False)
    data = synthetic_mnist()
    data.y_test[:5] = (data.y_test[:5] + 1) % 10  # five wrong labels: misclassified digits to show
    train_and_evaluate(config, logdir, data=data, log=lambda *_: None,
                       extra_hparams={"device": "cpu"})
    return logdir


def test_train_scalars_histograms_images_and_graph(logdir):
    train = _read(os.path.join(logdir, "train"))
    tags = set(train.Tags()["tensors"])
    for tag in ("step/loss", "step/accuracy", "step/learning_rate", "step/images_per_second",
                "epoch/loss", "epoch/accuracy"):
        assert tag in tags and _plugin(train, tag) == "scalars", tag
    kernels = [t for t in tags if t.startswith("weights/") and t.endswith("kernel")]
    assert len(kernels) == 3  # conv2d, conv2d_1, dense
    for tag in [t for t in tags if t.startswith(("weights/", "gradients/"))]:
        assert _plugin(train, tag) == "histograms"
    assert len([t for t in tags if t.startswith("gradients/")]) == 6
    for tag in ("input/sample_batch", "conv2d/filters"):
        assert _plugin(train, tag) == "images"
    # The Graphs dashboard reads the step's graph: its function library holds the step's ops.
    functions = step_graph_functions(os.path.join(logdir, "train"))
    op_names = [name for names in functions for name in names]
    # ops are grouped under each layer's name scope, so the dashboard shows a box per layer
    for layer in ("conv2d/", "conv2d_1/", "max_pooling2d/", "dense/", "dropout/"):
        assert any(layer in name for name in op_names), layer
    # ... and so are the loss and the optimizer's update: Adam's ~150 ops are one box.
    names = max(functions, key=len)
    assert sum(name.startswith("adam/") for name in names) > 100
    assert any(name.startswith("loss/") for name in names)
    assert any(name.startswith("step_metrics/") for name in names)
    assert not [n for n in names if n.split("_")[0] in ("AssignVariableOp", "AssignAddVariableOp")]

    # learning rate logged as set; step losses (means over log_every steps) fall
    lr = [tf.make_ndarray(e.tensor_proto) for e in train.Tensors("step/learning_rate")]
    np.testing.assert_allclose(lr, 1e-3, rtol=1e-6)
    losses = [float(tf.make_ndarray(e.tensor_proto)) for e in train.Tensors("step/loss")]
    assert len(losses) == 30 // 4 and losses[-1] < 0.5 * losses[0]
    epochs = [e.step for e in train.Tensors("epoch/loss")]
    assert epochs == [1, 2]


def test_validation_and_test_runs(logdir):
    validation = _read(os.path.join(logdir, "validation"))
    assert {"epoch/loss", "epoch/accuracy"} <= set(validation.Tags()["tensors"])
    test = _read(os.path.join(logdir, "test"))
    tags = set(test.Tags()["tensors"])
    assert {"epoch/loss", "epoch/accuracy", "test/confusion_matrix", "test/misclassified"} <= tags
    for tag in ("test/confusion_matrix", "test/misclassified"):
        assert _plugin(test, tag) == "images", tag
    confusion = test.Tensors("test/confusion_matrix")[0]
    width, height = (int(x) for x in tf.make_ndarray(confusion.tensor_proto)[:2])
    assert width == height > 200


def test_hparams_hold_the_settings_and_name_the_final_metrics(logdir):
    root = _read(logdir)
    plugin_data = {tag: root.SummaryMetadata(tag).plugin_data.content
                   for tag in root.Tags()["tensors"] if _plugin(root, tag) == "hparams"}
    session = hparams_metadata.parse_session_start_info_plugin_data(
        plugin_data[hparams_metadata.SESSION_START_INFO_TAG])
    values = {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
              for name, value in session.hparams.items()}
    assert values["epochs"] == 2 and values["batch_size"] == 32
    assert values["learning_rate"] == pytest.approx(1e-3)
    assert values["optimizer"] == "adam" and values["device"] == "cpu"
    experiment = hparams_metadata.parse_experiment_plugin_data(
        plugin_data[hparams_metadata.EXPERIMENT_TAG])
    metrics = {(m.name.group, m.name.tag) for m in experiment.metric_infos}
    assert {("train", "epoch/loss"), ("validation", "epoch/accuracy"),
            ("test", "epoch/accuracy")} <= metrics
    # every metric the dashboard names exists in its run
    for run, tag in metrics:
        assert tag in _read(os.path.join(logdir, run)).Tags()["tensors"], (run, tag)
