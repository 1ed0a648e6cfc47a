"""tf.distribute: a mirrored step equals a single-device step; TF_CONFIG errors (two workers
training together: test_workers.py)."""

import json
import os
import subprocess
import sys

import pytest

from binaries import ROOT, assert_one_line_error, child_env, run_main, start_binary
from mnist_tf import distribute

HERE = os.path.dirname(os.path.abspath(__file__))


def test_mirrored_steps_on_two_logical_cpus_equal_single_device_steps():
    """make_train_step under MirroredStrategy (2 logical CPUs, set before TensorFlow starts,
    hence a fresh process) against the same step on one device."""
    result = subprocess.run([sys.executable, os.path.join(HERE, "mirrored_step_check.py")],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    for name in ("adam", "nesterov", "adam_mixed_float16"):
        assert report[name]["steps"] == 2
        assert report[name]["spread"] == 0.0  # the replicas' copies stay identical
        # float16 computes in 11 significant bits: its two runs agree less closely
        tolerance = 1e-5 if name != "adam_mixed_float16" else 2e-3
        assert report[name]["max_difference"] <= tolerance, report
        # The gradients the step returns (TensorBoard's histograms) are ∂L/∂θ of the whole
        # batch, summed over the replicas and unscaled: those of the single-device step.
        assert report[name]["gradient_scale"] > 0, report
        assert report[name]["gradient_difference"] <= tolerance * max(
            1.0, report[name]["gradient_scale"]), report
    assert report["dropout_spread"] == 0.0


def test_multi_worker_without_tf_config_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(distribute.DistributeError, match="TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    result = run_main("train", "--strategy=multi_worker", f"--logdir={tmp_path}/r")
    assert_one_line_error(result, "TF_CONFIG")


def test_bad_tf_config_is_named(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(distribute.DistributeError, match="TF_CONFIG is not valid"):
        distribute.make_strategy("multi_worker")
