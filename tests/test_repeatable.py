"""Runs repeat bit for bit: the same flags give the same weights and metrics.json figures
(timings aside), on one device and under MirroredStrategy, with or without ``--deterministic``.

After a resume too: test_interrupts.py (a signal, then ``--resume``) and test_disk_full.py (five
resumes) compare bit for bit with a run never stopped. On a CPU this holds for the same
thread counts (the README says which conditions); it is not claimed across machines.
"""

import json
import os
import subprocess
import sys

from binaries import ROOT
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from same_run import assert_bit_identical, figures
from test_reliability import Log
from training_helpers import synthetic_mnist

HERE = os.path.dirname(os.path.abspath(__file__))


def test_two_runs_with_the_same_settings_end_bit_identical_on_one_device(tmp_path):
    config, data = TrainConfig(epochs=2, batch_size=32, steps_per_epoch=6, log_every=3,
                               export=False), synthetic_mnist()
    first = train_and_evaluate(config, str(tmp_path / "first"), data=data, log=Log())
    second = train_and_evaluate(config, str(tmp_path / "second"), data=data, log=Log())
    assert figures(first) == figures(second)
    assert_bit_identical(tmp_path / "first", tmp_path / "second")
    other = train_and_evaluate(config.replace(seed=1), str(tmp_path / "other"), data=data,
                               log=Log())
    assert figures(other) != figures(first)  # the comparison can tell runs apart


def test_mirrored_runs_end_bit_identical_with_and_without_op_determinism(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, HERE])}
    result = subprocess.run([sys.executable, os.path.join(HERE, "repeat_check.py"),
                             str(tmp_path)], capture_output=True, text=True, timeout=300,
                            cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["second"] == {"weights": True, "figures": True}, report
    assert report["deterministic"] == {"weights": True, "figures": True}, report
