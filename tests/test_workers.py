"""Two workers (MultiWorkerMirroredStrategy over loopback): a signal to one stops both at the
same checkpoint, a killed one makes the other exit with one line, the job resumes, and the
chief's refusals are given alike by both workers.

One chain of runs in one logdir, shared by the tests below (a pair of workers is two
TensorFlow processes, ~6 CPU-seconds each before its first step), on small synthetic digits
(``training_helpers.synthetic_mnist``, 3,300 training and 500 test digits):
    A  50 epochs of STEPS steps, a checkpoint every 10 steps, 1% held out for validation and
       no explain images (only the test accuracy is asserted); SIGTERM to worker 1 once
       ckpt-1 exists
    B  --resume --collective_timeout=COLLECTIVE_TIMEOUT; SIGKILL to worker 1 once a newer
       checkpoint exists; worker 0 left to notice
    C  --resume --epochs=3, to the end
    D  --resume --epochs=2 on a copy of the finished run: refused by the chief, the same line
       on both workers

D shows the one mechanism every refusal goes through (``workers.chief_decides``: the chief's
value, or its error's class and message, sent to every worker) over the real all-reduce. The
refusals themselves are tested in one process (tests/test_reliability.py,
tests/test_training.py), and that the chief's value and each kind of error cross as
themselves in ``test_the_chiefs_outcome_reaches_the_other_worker_as_itself``.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from binaries import assert_one_line_error, run_main, start_binary
from training_helpers import data_env, synthetic_mnist
from mnist_tf import distribute
from mnist_tf.errors import CheckpointError, DataError, MnistTfError, SettingError
from mnist_tf.runs import checkpoint_repair, checkpoints, saved_runs, workers
from mnist_tf.runs.lock import LogdirInUseError

pytestmark = pytest.mark.xdist_group("two_workers")  # one xdist worker runs the chain, once

LINE = re.compile(r"^interrupted at epoch (\d+), batch (\d+): checkpoint (\S+); "
                  r"resume with --resume$")
STEPS = 30  # per epoch: 90 steps of 64 synthetic digits in all, enough for the 98% below
COLLECTIVE_TIMEOUT = 15  # seconds (45 by default): B's survivor waits at most about this long


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _start_workers(data, logdir, *args):
    ports = _free_ports(2)
    return [start_binary("train", "--strategy=multi_worker", "--device=cpu", f"--logdir={logdir}",
                         "--noexport", *args, env={**data, "TF_CONFIG": _tf_config(ports, i)})
            for i in range(2)]


def _wait_for(path, procs, seconds=300):
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline and all(w.poll() is None for w in procs):
        time.sleep(0.05)
    return path.exists()


def _outcomes(procs, timeout=300):
    """[(returncode, stdout, stderr, seconds until it exited)] of each worker."""
    started, results = time.time(), []
    for worker in procs:
        try:
            out, err = worker.communicate(timeout=max(1, timeout - (time.time() - started)))
        except subprocess.TimeoutExpired:
            worker.kill()
            out, err = worker.communicate()
        results.append((worker.returncode, out, err, time.time() - started))
    return results


def _kill(procs):
    for worker in procs:
        if worker.poll() is None:
            worker.kill()
    return [w.communicate() for w in procs]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_workers")
    logdir, ckpts = root / "run", root / "run" / "checkpoints"
    run = {"logdir": logdir, "data": data_env(root, synthetic_mnist(n_train=3300, n_test=500))}
    procs = _start_workers(run["data"], logdir, "--epochs=50", f"--steps_per_epoch={STEPS}",
                           "--batch_size=64", "--checkpoint_every_steps=10",
                           "--validation_split=0.01", "--noexplain_images")
    if not _wait_for(ckpts / "ckpt-1.index", procs):
        pytest.fail(f"no first checkpoint: {_kill(procs)}")
    procs[1].send_signal(signal.SIGTERM)  # the non-chief: the chief must stop too
    run["signalled"] = _outcomes(procs, timeout=180)
    run["saved"] = {os.path.basename(prefix):  # read now: later saves rotate them out
                    (checkpoints.epochs_done(prefix), checkpoints.batches_done(prefix))
                    for prefix in checkpoint_repair.checkpoint_files(str(ckpts))}

    procs = _start_workers(run["data"], logdir, "--resume",
                           f"--collective_timeout={COLLECTIVE_TIMEOUT}")
    newest = checkpoints.number(tf.train.latest_checkpoint(str(ckpts)))
    if not _wait_for(ckpts / f"ckpt-{newest + 1}.index", procs):
        pytest.fail(f"no checkpoint after the resume: {_kill(procs)}")
    procs[1].kill()
    procs[1].wait()
    run["survivor"] = _outcomes(procs[:1], timeout=180)[0]

    run["finished"] = _outcomes(_start_workers(run["data"], logdir, "--resume", "--epochs=3"),
                                timeout=900)

    shutil.copytree(logdir, root / "refused")  # the finished run stays as C left it
    run["refused"] = _outcomes(_start_workers(run["data"], root / "refused", "--resume",
                                              "--epochs=2"), timeout=400)
    return run


@pytest.mark.slow
def test_a_sigterm_to_one_worker_stops_both_at_the_same_checkpoint(chain):
    (rc0, _, err0, _), (rc1, _, err1, _) = chain["signalled"]
    assert (rc0, rc1) == (143, 143), (err0[-2000:], err1[-2000:])
    lines = [err.strip().splitlines()[-1] for err in (err0, err1)]
    assert lines[0] == lines[1]  # the same step, the chief's checkpoint, on both
    match = LINE.match(lines[0])
    assert match, lines
    epoch, batch, prefix = int(match[1]), int(match[2]), match[3]
    assert prefix.startswith(str(chain["logdir"] / "checkpoints"))
    epochs_done, batches_done = chain["saved"][os.path.basename(prefix)]  # as saved
    assert epochs_done * STEPS + batches_done == (epoch - 1) * STEPS + batch
    assert all(len(err.strip().splitlines()) == 1 for err in (err0, err1)), (err0, err1)


@pytest.mark.slow
def test_a_dead_worker_makes_the_other_exit_with_one_line_within_the_collective_timeout(chain):
    """Bounded by --collective_timeout, plus 15 s to notice and exit (45 s + 15 s by default)."""
    returncode, _, err, elapsed = chain["survivor"]
    assert returncode != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: lost contact with another worker"), err
    assert elapsed < COLLECTIVE_TIMEOUT + 15


@pytest.mark.slow
def test_two_workers_resume_and_the_chief_keeps_a_good_checkpoint(chain):
    """After the signal and the kill, both workers restore the chief's newest checkpoint and
    follow the schedule to its (here shortened) end: 3 * STEPS steps of a global batch of 64."""
    logdir = chain["logdir"]
    for returncode, out, err, _ in chain["finished"]:
        assert returncode == 0, err[-3000:]
        assert "resumed from" in out
    metrics = json.loads((logdir / "metrics.json").read_text())
    assert metrics["replicas"] == 2
    assert metrics["steps"] == 3 * STEPS and metrics["epochs_run_this_session"] >= 1
    assert metrics["test_accuracy"] > 0.98  # bars a convnet separates in a few dozen steps
    # Training accuracy counts the global batch (both workers' halves), not this worker's half.
    assert 0.5 < metrics["train"]["accuracy"] <= 1.0
    assert abs(metrics["train"]["accuracy"] - metrics["test_accuracy"]) < 0.1
    assert "the chief writes the metrics" in chain["finished"][1][1]
    latest = tf.train.latest_checkpoint(str(logdir / "checkpoints"))  # the chief's, the newest
    assert latest and os.path.exists(latest + ".index"), latest
    evaluated = run_main("evaluate", f"--checkpoint={logdir}", "--device=cpu", env=chain["data"])
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert report["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    model, _ = saved_runs.load_model(logdir)
    assert model.trainable_variables


@pytest.mark.slow
def test_every_worker_refuses_alike_and_none_is_left_waiting(chain):
    (rc0, _, err0, _), (rc1, _, err1, _) = chain["refused"]
    assert (rc0, rc1) == (2, 2), (err0[-2000:], err1[-2000:])
    said = [err.strip().splitlines() for err in (err0, err1)]
    assert said[0] == said[1] and len(said[0]) == 1, said  # one line, the same on both
    assert said[0][0].startswith("error: --epochs must be at least 3"), said[0][0]


class _Unknown(Exception):
    pass


class _TwoWorkers:
    """Two workers as two threads of this process: ``sum`` is their all-reduce."""

    def __init__(self):
        self.barrier, self.me, self.sent = threading.Barrier(2, timeout=30), threading.local(), {}

    def sum(self, strategy, values):
        self.sent[self.me.index] = np.asarray(values, np.int32)
        self.barrier.wait()
        total = self.sent[0] + self.sent[1]
        self.barrier.wait()  # both have read the sum before either sends again
        return total

    def run(self, fn):
        """[what ``fn()`` returned or raised] on worker 0 (the chief) and worker 1."""
        outcomes = [None, None]

        def worker(index):
            self.me.index = index
            try:
                outcomes[index] = fn()
            except Exception as e:  # noqa: BLE001 - the outcome under test
                outcomes[index] = e

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return outcomes


@pytest.mark.parametrize("error, expected", [
    (SettingError("epochs", "must be at least 3, the epochs /runs/a has done already (got 2)"),
     SettingError),
    (CheckpointError("/runs/a/checkpoints/ckpt-3: cannot restore the run from it, the "
                     "checkpoint is damaged (truncated), and no older intact checkpoint is left"),
     CheckpointError),
    (LogdirInUseError("/runs/a is in use by another trainer (PID 123): wait for it"),
     LogdirInUseError),
    (DataError("train-images-idx3-ubyte.gz: not a gzip file"), DataError),
    (FileNotFoundError(2, "No such file or directory", "/runs/a/config.json"), MnistTfError),
    (_Unknown("something else"), MnistTfError),
    (None, None),  # no error: the chief's value
])
def test_the_chiefs_outcome_reaches_the_other_worker_as_itself(monkeypatch, error, expected):
    """``chief_decides`` between two workers (the all-reduce stood in for): the check runs on
    the chief alone; the other worker returns its value, or raises its error's class with its
    message (so bin/ prints the same line with the same exit status), an OSError as bin/
    shows one, any other error as an MnistTfError. The processes above show the real
    all-reduce for a value (the resume check of B and C) and a SettingError (D)."""
    two = _TwoWorkers()
    monkeypatch.setattr(workers, "_sum_over_workers", two.sum)
    monkeypatch.setattr(workers, "worker_count", lambda strategy: 2)
    monkeypatch.setattr(workers.distribute, "is_chief", lambda strategy: two.me.index == 0)
    value = {"epochs": 3, "test_accuracy": 0.9812, "note": "é ✓"}  # non-ASCII: bytes, not chars
    calls = []

    def check():
        calls.append(two.me.index)
        if error is not None:
            raise error
        return value

    chief, other = two.run(lambda: workers.chief_decides(None, check))
    assert calls == [0]
    if error is None:
        assert chief == other == value
        return
    assert chief is error
    assert type(other) is expected, other
    message = ("No such file or directory: /runs/a/config.json"
               if isinstance(error, OSError) else str(error))
    assert str(other) == message
    if isinstance(error, SettingError):
        assert (other.setting, other.problem) == (error.setting, error.problem)


def test_the_collective_timeout_flag_reaches_the_strategy(tmp_path, monkeypatch):
    """bin/train.py builds the strategy with ``--collective_timeout`` (default: the library's)."""
    seen = []

    def make_strategy(kind, num_cpu_devices=0, timeout_seconds=None):
        seen.append((kind, timeout_seconds))
        raise distribute.DistributeError("strategy not built here")

    monkeypatch.setattr(distribute, "make_strategy", make_strategy)
    for args in ([], [f"--collective_timeout={COLLECTIVE_TIMEOUT}"]):
        result = run_main("train", "--strategy=multi_worker", "--device=cpu",
                          f"--logdir={tmp_path / 'run'}", *args)
        assert_one_line_error(result, "strategy not built here")
    assert seen == [("multi_worker", distribute.COLLECTIVE_TIMEOUT),
                    ("multi_worker", COLLECTIVE_TIMEOUT)]
