"""Flag combinations: each trains through the loop's every code path, or is refused up front.

Not every product of the settings: a covering set, in which every value of each setting that
changes the loop's path (precision × gradients × steps_per_loop × jit × model × optimizer and
schedule × augmentation × histograms × profile × explain images × resume, one device and
mirrored) appears at least once. Mirrored runs use the two logical CPUs ``conftest`` splits
the CPU into.
"""

import json
import math
import os

import numpy as np
import pytest

from mnist_tf import distribute
from mnist_tf.errors import SettingError
from mnist_tf.runs import saved_runs
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from training_helpers import step_graph_functions, synthetic_mnist

SMALL = TrainConfig(epochs=1, batch_size=32, steps_per_epoch=4, log_every=2, export=False,
                    explain_images=False)  # on in one run: a few CPU-seconds each
# float16's runs take batches of 8, and the smaller of the two normalized models: oneDNN's
# float16 convolution gradients cost ~25 ms an image on a CPU with AVX512-FP16
# (mnist_tf/precision.py)
FLOAT16 = dict(precision="mixed_float16", batch_size=8)

COMBINATIONS = {
    "bfloat16-manual-loop3-bn_cnn-momentum-cosine-augment": dict(
        precision="mixed_bfloat16", gradients="manual", steps_per_loop=3,
        model="bn_cnn", optimizer="momentum", lr_schedule="cosine",
        warmup_steps=1, augment=True),
    "float32-tape-loop3-xla": dict(steps_per_loop=3, jit_compile=True),
    "float16-tape-loop2-histograms-cnn_bn-adamw-one_cycle-smoothing-profile": dict(
        **FLOAT16, steps_per_loop=2, histogram_every=2, model="keras_example_cnn_bn",
        optimizer="adamw", lr_schedule="one_cycle", warmup_steps=2, label_smoothing=0.1,
        profile=True),
    "mirrored-float32-manual-loop3-sgd-exponential-explain": dict(
        strategy=True, gradients="manual", steps_per_loop=3, optimizer="sgd",
        learning_rate=0.05, lr_schedule="exponential", explain_images=True),
    "mirrored-float16-tape-histograms": dict(
        strategy=True, **FLOAT16, histogram_every=1),
}


def _mirrored():
    return distribute.make_strategy("mirrored", num_cpu_devices=2)


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_every_combination_trains_and_reports(name, tmp_path):
    settings = dict(COMBINATIONS[name])
    strategy = _mirrored() if settings.pop("strategy", False) else None
    logdir = str(tmp_path / "run")
    metrics = train_and_evaluate(SMALL.replace(**settings), logdir, data=synthetic_mnist(),
                                 strategy=strategy, log=lambda *_: None)
    assert metrics["steps"] == 4 and metrics["replicas"] == (2 if strategy else 1)
    assert math.isfinite(metrics["test"]["loss"])
    with open(os.path.join(logdir, "metrics.json")) as f:
        assert json.load(f)["test_accuracy"] == metrics["test_accuracy"]
    assert step_graph_functions(os.path.join(logdir, "train"))  # the graph was written
    model, _ = saved_runs.load_model(logdir)
    assert all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables)


def test_mirrored_xla_on_logical_cpus_is_refused_before_training_naming_both(tmp_path):
    with pytest.raises(SettingError) as info:
        train_and_evaluate(SMALL.replace(jit_compile=True), str(tmp_path / "run"),
                           data=synthetic_mnist(), strategy=_mirrored(), log=lambda *_: None)
    message = str(info.value)
    assert "jit_compile" in message and "mirrored" in message and "\n" not in message
    assert not os.path.exists(tmp_path / "run")  # refused before anything was written


def test_a_float32_run_resumes_under_mixed_float16_and_says_so(tmp_path):
    logdir, lines = str(tmp_path / "run"), []
    data, small = synthetic_mnist(), SMALL.replace(batch_size=FLOAT16["batch_size"])
    train_and_evaluate(small, logdir, data=data, log=lambda *_: None)
    metrics = train_and_evaluate(small.replace(epochs=2, **FLOAT16), logdir,
                                 data=data, resume=True, log=lines.append)
    resumed = next(line for line in lines if line.startswith("resumed from"))
    assert "the precision is now mixed_float16: its loss scale starts afresh" in resumed
    assert metrics["steps"] == 8 and math.isfinite(metrics["test"]["loss"])
    # and back: the loss scale is dropped, the optimizer's state carries on
    metrics = train_and_evaluate(small.replace(epochs=3, precision="float32"), logdir,
                                 data=data, resume=True, log=lines.append)
    assert any("the precision is no longer mixed_float16: its loss scale is dropped" in line
               for line in lines)
    assert metrics["steps"] == 12
