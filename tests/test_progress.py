"""The progress line: running figures, and a resumed epoch's speed counting this session only."""

import io
import time

import pytest

from mnist_tf.training.progress import Progress


def test_the_line_shows_running_means_and_the_summary_replaces_it():
    stream = io.StringIO()
    progress = Progress(3, 15, 10, stream=stream, live=True, min_interval=0)
    progress.update(4, 512, loss_sum=256.0, correct=500.0)
    assert "epoch 3/15  4/10" in stream.getvalue() and "loss 0.5000 acc 0.9766" in stream.getvalue()
    assert progress.finish().startswith("epoch 3/15  loss 0.5000 acc 0.9766")


def test_a_resumed_epoch_counts_only_this_sessions_images_in_its_speed():
    progress = Progress(1, 1, 10, stream=io.StringIO(), live=False)
    progress.resumed(5, 640.0)  # done before the kill
    time.sleep(0.05)
    progress.update(6, 768, loss_sum=76.8, correct=700.0)
    assert progress.images_per_second == pytest.approx(128 / progress.seconds, rel=0.05)
    assert progress.loss == pytest.approx(0.1)  # the epoch's figures include the resumed part
    assert progress.session_images == 128
