"""bin/keras_reference.py: the Keras example trained with model.fit, under a dtype policy."""

import json

import pytest

from binaries import assert_one_line_error, run_main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("policy,compute_dtype", [("float32", "float32"),
                                                   ("mixed_bfloat16", "bfloat16")])
def test_a_short_fit_learns_under_the_policy(small_mnist_env, policy, compute_dtype):
    result = run_main("keras_reference", "--epochs=1", "--train_images=1000", "--batch_size=16",
                      f"--precision={policy}", env=small_mnist_env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["compute_dtype"] == compute_dtype
    assert summary["train_images"] == 1000 and summary["epochs"] == 1
    # 57 steps of Adam 1e-3 on 900 images: measured 70.5% (float32) and 70.4%
    # (mixed_bfloat16) on the first 1,000 test images; chance is 10%.
    assert 0.6 < summary["test_accuracy"] <= 1.0, summary
    assert f"test accuracy {summary['test_accuracy']:.4f}" in result.stdout


def test_a_bad_policy_is_a_one_line_flag_error():
    assert_one_line_error(run_main("keras_reference", "--precision=float8"), "--precision")
