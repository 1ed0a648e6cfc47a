"""tf.distribute: a mirrored step equals a single-device step; TF_CONFIG errors (two workers
training together: test_workers.py)."""

import pytest

import mirrored_step_check
from binaries import assert_one_line_error, run_main
from mnist_tf import distribute


def test_mirrored_steps_on_two_logical_cpus_equal_single_device_steps():
    """make_train_step under MirroredStrategy (the 2 logical CPUs conftest splits the CPU into)
    against the same step on one device."""
    report = mirrored_step_check.report()
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
