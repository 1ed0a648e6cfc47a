"""bin/train.py and bin/evaluate.py as a user runs them: flags, errors, kill and resume.

The binaries run in-process (``run_main``); a real process only for the SIGKILL (what a
terminal shows of an error: test_predict_bin.py).
"""

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from binaries import assert_one_line_error, run_main, start_binary
from training_helpers import weights

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
                                   f"--logdir={tmp_path}/run2"), "--validation_split")


def test_a_corrupt_data_file_is_a_one_line_error(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (data_dir / name).write_bytes(b"\x1f\x8b not really gzip")
    result = run_main("train", *QUICK, f"--data_dir={data_dir}", f"--logdir={tmp_path}/run")
    assert_one_line_error(result, "train-images-idx3-ubyte.gz")


def _kill_in_epoch_2(process, logdir):
    """SIGKILLs ``process`` half a second after its first checkpoint (40 steps take seconds)."""
    first = logdir / "checkpoints" / "ckpt-1.index"
    deadline = time.time() + 300
    while not first.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    if first.exists():
        time.sleep(0.5)
    if process.poll() is None:  # else returncode 0 or an error: the test names what happened
        process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_killed_mid_epoch_and_resumed_loses_nothing(tmp_path):
    """SIGKILL during epoch 2, then --resume: same final weights as a run never killed."""
    killed = tmp_path / "killed"
    process = start_binary("train", *QUICK, f"--logdir={killed}")
    watcher = threading.Thread(target=_kill_in_epoch_2, args=(process, killed))
    watcher.start()
    straight = tmp_path / "straight"  # trained here meanwhile
    result = run_main("train", *QUICK, f"--logdir={straight}")
    assert result.returncode == 0, result.stderr
    assert "device: /CPU:0" in result.stdout
    assert "test accuracy" in result.stdout
    watcher.join()
    assert process.returncode == -signal.SIGKILL, process.communicate()[1]
    assert not (killed / "metrics.json").exists()

    resumed = run_main("train", "--resume", f"--logdir={killed}")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    for a, b in zip(weights(straight), weights(killed)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    metrics = json.loads((killed / "metrics.json").read_text())
    expected = json.loads((straight / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(expected["test_accuracy"], abs=1e-6)
    assert metrics["steps"] == expected["steps"] == 80

    evaluated = run_main("evaluate", f"--checkpoint={killed}", "--device=cpu")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert report["accuracy"] == pytest.approx(expected["test_accuracy"], abs=1e-6)
    assert report["count"] == 10000
    assert np.sum(report["confusion_matrix"]) == 10000
    assert len(report["per_class_accuracy"]) == 10


def test_resume_without_a_run_is_a_one_line_error(tmp_path):
    result = run_main("train", "--resume", f"--logdir={tmp_path}/nothing")
    assert_one_line_error(result, "config.json")


def test_resume_without_logdir_takes_the_most_recent_run_whatever_its_name(tmp_path):
    from mnist_tf.training import config as config_lib
    from mnist_tf.training.config import TrainConfig

    quick = TrainConfig(epochs=1, steps_per_epoch=3, batch_size=16, validation_split=0.01,
                        export=False)
    for name, age in (("zz_named_by_hand", 3600), ("20261126-010203", 0)):
        (tmp_path / "logs" / name).mkdir(parents=True)
        path = tmp_path / "logs" / name / "config.json"
        config_lib.save(quick, str(path))
        os.utime(path, (time.time() - age, time.time() - age))
    result = run_main("train", "--resume", "--device=cpu", cwd=tmp_path)
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
