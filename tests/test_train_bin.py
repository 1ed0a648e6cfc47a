"""bin/train.py as a user runs it: flags, errors, resuming the newest run.

The binary runs in-process (``run_main``), on synthetic digits from Keras's cache where it
trains (``data_env``). Killed and resumed, then bin/evaluate.py: test_interrupts.py; what a
terminal shows of an error (a real process): test_predict_bin.py.
"""

import os
import time

import pytest
import tensorflow as tf

from binaries import assert_one_line_error, run_main
from training_helpers import data_env
from training_helpers import synthetic_mnist

QUICK = ["--device=cpu", "--epochs=2", "--steps_per_epoch=40", "--log_every=5", "--noexport"]


def test_gpu_on_a_machine_without_one_is_a_one_line_error(tmp_path):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    result = run_main("train", "--device=gpu", f"--logdir={tmp_path}")
    assert_one_line_error(result, "--device is gpu", "no GPU")
    assert result.returncode == 2


@pytest.mark.parametrize("flag,fragment", [
    ("--epochs=0", "--epochs"), ("--epochs=ten", "--epochs"),
    ("--batch_size=-5", "--batch_size"), ("--validation_split=1.5", "--validation_split"),
    ("--learning_rate=0", "--learning_rate"), ("--optimizer=rmsprop", "--optimizer"),
    ("--device=tpu", "--device"), ("--steps_per_epoch=0", "--steps_per_epoch"),
    ("--seed=-1", "--seed"), ("--model=resnet", "--model"),
    ("--flagfile=/nonexistent/my.flags", "/nonexistent/my.flags"),
])
def test_bad_flags_are_one_line_errors(tmp_path, flag, fragment):
    result = run_main("train", flag, f"--logdir={tmp_path}/run")
    assert_one_line_error(result, fragment)
    assert result.returncode == 2


def test_unusable_paths_and_an_empty_split_are_one_line_errors(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    assert_one_line_error(run_main("train", *QUICK, f"--logdir={a_file}"), str(a_file))
    assert_one_line_error(run_main("train", *QUICK, f"--logdir={tmp_path}/run",
                                   f"--checkpoint_dir={a_file}/checkpoints"), str(a_file))
    assert_one_line_error(run_main("train", *QUICK, "--validation_split=0.99999999",
                                   f"--logdir={tmp_path}/run2",
                                   env=data_env(tmp_path, synthetic_mnist())),
                          "--validation_split")


def test_a_corrupt_data_file_is_a_one_line_error(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (data_dir / name).write_bytes(b"\x1f\x8b not really gzip")
    result = run_main("train", *QUICK, f"--data_dir={data_dir}", f"--logdir={tmp_path}/run")
    assert_one_line_error(result, "train-images-idx3-ubyte.gz")


def test_resume_without_a_run_is_a_one_line_error(tmp_path):
    result = run_main("train", "--resume", f"--logdir={tmp_path}/nothing")
    assert_one_line_error(result, "config.json")


def test_resume_without_logdir_takes_the_most_recent_run_whatever_its_name(tmp_path):
    from mnist_tf.training import config as config_lib
    from mnist_tf.training.config import TrainConfig

    quick = TrainConfig(epochs=1, steps_per_epoch=3, batch_size=16, validation_split=0.01,
                        export=False, explain_images=False)
    for name, age in (("zz_named_by_hand", 3600), ("20261126-010203", 0)):
        (tmp_path / "logs" / name).mkdir(parents=True)
        path = tmp_path / "logs" / name / "config.json"
        config_lib.save(quick, str(path))
        os.utime(path, (time.time() - age, time.time() - age))
    result = run_main("train", "--resume", "--device=cpu", cwd=tmp_path,
                      env=data_env(tmp_path / "data", synthetic_mnist()))
    # The newest run, killed before its first checkpoint: named, and started from the beginning.
    assert result.returncode == 0, result.stderr
    assert f"resuming the newest run: {os.path.join('logs', '20261126-010203')}" in result.stdout
    assert "starting the run from the beginning, with its saved config" in result.stdout
    assert (tmp_path / "logs" / "20261126-010203" / "metrics.json").exists()
    assert not (tmp_path / "logs" / "zz_named_by_hand" / "metrics.json").exists()


def test_resume_with_a_garbled_config_json_is_a_one_line_error(tmp_path):
    (tmp_path / "config.json").write_text("{oops")
    result = run_main("train", "--resume", f"--logdir={tmp_path}")
    assert_one_line_error(result, "config.json", "not a run config")


@pytest.mark.parametrize("onednn_on", [True, False])
def test_mixed_float16_on_a_cpu_with_avx512_fp16_notes_onednn_where_it_runs(tmp_path,
                                                                           monkeypatch,
                                                                           onednn_on):
    """The note the run starts with follows the kernels this process runs (oneDNN's float16
    convolution gradients are the slow ones: mnist_tf/precision.py)."""
    from mnist_tf import onednn, precision

    monkeypatch.setattr(precision, "_read_cpuinfo",
                        lambda cpuinfo: "model name\t: a CPU\nflags\t\t: avx512f avx512_fp16\n")
    monkeypatch.setattr(onednn, "enabled", lambda: onednn_on)
    result = run_main("train", "--device=cpu", "--precision=mixed_float16", "--epochs=1",
                      "--steps_per_epoch=1", "--batch_size=8", "--noexport",
                      "--noexplain_images", f"--logdir={tmp_path}/run",
                      env=data_env(tmp_path / "data", synthetic_mnist(n_train=64, n_test=16)))
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("note: ")]
    if onednn_on:
        assert len(notes) == 1 and "--onednn=off" in notes[0], result.stdout
    else:
        assert notes == [], result.stdout
