"""explain/* images: the sheets TensorBoard shows are the PNGs bin/explain.py writes."""

import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

from mnist_tf.explain import explain, passes, render, summaries
from mnist_tf.runs import saved_runs
from mnist_tf.training.config import TrainConfig


def _images(run_dir, tag):
    accumulator = event_accumulator.EventAccumulator(
        run_dir, size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    events = accumulator.Tensors(tag) if tag in accumulator.Tags()["tensors"] else []
    # an image summary's tensor is [width, height, PNG bytes...]
    return [(e.step, np.asarray(Image.open(io.BytesIO(e.tensor_proto.string_val[2]))))
            for e in events]


def test_epoch_images_are_the_sheets_of_the_test_digits(trained_run, mnist, tmp_path):
    model, _ = saved_runs.load_model(trained_run.logdir)
    writer = tf.summary.create_file_writer(str(tmp_path / "on"))
    for step in (10, 20):
        summaries.at_epoch_end(TrainConfig(), writer, step, model, (mnist.x_test, mnist.y_test))
    writer.flush()
    i = summaries.TEST_INDICES[-1]
    written = _images(str(tmp_path / "on"), f"explain/test_{i}")
    assert [step for step, _ in written] == [10, 20]
    x = mnist.x_test[[i]][..., None].astype(np.float32) / 255.0
    e = explain(model, x)
    assert e.digit(0) != mnist.y_test[i]  # one of the handful the model gets wrong
    expected = np.asarray(render.digit_sheet(e, 0, passes.flat_layers(model),
                                             f"test digit {i}, label {int(mnist.y_test[i])}"))
    assert written[0][1].shape == expected.shape
    differ = np.abs(written[0][1].astype(int) - expected) > 2  # compiled vs eager: round-off
    assert np.mean(differ) < 1e-3

    off = tf.summary.create_file_writer(str(tmp_path / "off"))
    summaries.at_epoch_end(TrainConfig(explain_images=False), off, 10, model,
                           (mnist.x_test, mnist.y_test))
    off.flush()
    assert _images(str(tmp_path / "off"), "explain/test_0") == []
    assert not [f for f in os.listdir(tmp_path / "off") if os.path.getsize(tmp_path / "off" / f) > 200]
