"""Runs repeat bit for bit: the same flags give the same weights and metrics.json figures
(timings aside), on one device and under MirroredStrategy, with or without ``--deterministic``.

After a resume too: test_interrupts.py (a signal, then ``--resume``) and test_disk_full.py (five
resumes) compare bit for bit with a run never stopped. On a CPU this holds for the same
thread counts (the README says which conditions); it is not claimed across machines.
"""

import tensorflow as tf
# Turning op determinism off again, and reading it, are not in TensorFlow's public API.
from tensorflow.python.framework.config import (disable_op_determinism,
                                                is_op_determinism_enabled)

from mnist_tf import distribute
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from same_run import assert_bit_identical, figures
from test_reliability import Log
from training_helpers import synthetic_mnist

CONFIG = TrainConfig(epochs=2, batch_size=32, steps_per_epoch=6, log_every=3, export=False,
                     explain_images=False)


def test_two_runs_with_the_same_settings_end_bit_identical_on_one_device(tmp_path):
    data = synthetic_mnist()
    first = train_and_evaluate(CONFIG, str(tmp_path / "first"), data=data, log=Log())
    second = train_and_evaluate(CONFIG, str(tmp_path / "second"), data=data, log=Log())
    assert figures(first) == figures(second)
    assert_bit_identical(tmp_path / "first", tmp_path / "second")
    other = train_and_evaluate(CONFIG.replace(seed=1), str(tmp_path / "other"), data=data,
                               log=Log())
    assert figures(other) != figures(first)  # the comparison can tell runs apart


def test_mirrored_runs_end_bit_identical_with_and_without_op_determinism(tmp_path):
    """The same run three times under MirroredStrategy on the 2 logical CPUs conftest.py
    sets up for every test: twice as it is, once more with TensorFlow's op determinism on (a
    setting of the whole process: put back as it was after the test)."""
    strategy = distribute.make_strategy("mirrored", num_cpu_devices=2)
    assert strategy.num_replicas_in_sync == 2
    data, runs = synthetic_mnist(), {}
    was_deterministic = is_op_determinism_enabled()
    try:
        for name in ("first", "second", "deterministic"):
            if name == "deterministic":
                tf.config.experimental.enable_op_determinism()
            else:
                disable_op_determinism()
            runs[name] = train_and_evaluate(CONFIG, str(tmp_path / name), data=data,
                                            strategy=strategy, log=Log())
    finally:
        if was_deterministic:
            tf.config.experimental.enable_op_determinism()
        else:
            disable_op_determinism()
    for name in ("second", "deterministic"):
        assert figures(runs[name]) == figures(runs["first"]), name
        assert_bit_identical(tmp_path / "first", tmp_path / name)
