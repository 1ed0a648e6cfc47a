"""tf.distribute: a mirrored step equals a single-device step; two workers train together."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from binaries import ROOT, assert_one_line_error, run_main, start_binary
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


def _start_workers(logdir, *args):
    ports = _free_ports(2)
    return [start_binary("train", "--strategy=multi_worker", "--device=cpu", f"--logdir={logdir}",
                         "--noexport", *args, env={"TF_CONFIG": _tf_config(ports, i)})
            for i in range(2)]


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory):
    """One two-worker run, shared by the tests below (one pytest-xdist worker runs both: two
    processes each): started for 50 epochs of 40 steps, worker 1 killed once the chief's first
    checkpoint exists, worker 0 left to notice; then both resumed with ``--epochs=3`` to the end."""
    logdir = tmp_path_factory.mktemp("two_workers") / "run"
    workers = _start_workers(logdir, "--epochs=50", "--steps_per_epoch=40", "--batch_size=64")
    deadline = time.time() + 240
    checkpoint = logdir / "checkpoints" / "ckpt-1.index"
    while not checkpoint.exists() and time.time() < deadline and workers[0].poll() is None:
        time.sleep(0.2)
    run = {"logdir": logdir, "checkpoint_before_kill": checkpoint.exists()}
    if not run["checkpoint_before_kill"]:
        for worker in workers:
            worker.kill()
        run["killed"] = [w.communicate() for w in workers]
        return run
    workers[1].kill()
    workers[1].wait()
    started = time.time()
    try:
        out, err = workers[0].communicate(timeout=300)
    except subprocess.TimeoutExpired:
        workers[0].kill()
        out, err = workers[0].communicate()
    run["survivor"] = (workers[0].returncode, out, err, time.time() - started)
    resumed = _start_workers(logdir, "--resume", "--epochs=3")
    outputs = [w.communicate(timeout=900) for w in resumed]
    run["resumed"] = [(w.returncode, out, err) for w, (out, err) in zip(resumed, outputs)]
    return run


@pytest.mark.slow
@pytest.mark.xdist_group("two_workers")
def test_a_dead_worker_makes_the_other_fail_within_bounded_time(two_worker_run):
    assert two_worker_run["checkpoint_before_kill"], two_worker_run.get("killed")
    returncode, _, err, elapsed = two_worker_run["survivor"]
    assert returncode != 0
    assert "Traceback" not in err
    assert "worker" in err.strip().splitlines()[-1]
    assert elapsed < 240


@pytest.mark.slow
@pytest.mark.xdist_group("two_workers")
def test_two_workers_resume_and_the_chief_keeps_a_good_checkpoint(two_worker_run):
    """After the failure, both workers restore the chief's newest checkpoint and follow the
    schedule to its (here shortened) end: 120 steps of a global batch of 64."""
    assert two_worker_run["checkpoint_before_kill"], two_worker_run.get("killed")
    logdir = two_worker_run["logdir"]
    for returncode, out, err in two_worker_run["resumed"]:
        assert returncode == 0, err[-3000:]
        assert "resumed from" in out
    metrics = json.loads((logdir / "metrics.json").read_text())
    assert metrics["replicas"] == 2
    assert metrics["steps"] == 120 and metrics["epochs_run_this_session"] >= 1
    assert metrics["test_accuracy"] > 0.9
    # Training accuracy counts the global batch (both workers' halves), not this worker's half.
    assert 0.5 < metrics["train"]["accuracy"] <= 1.0
    assert abs(metrics["train"]["accuracy"] - metrics["test_accuracy"]) < 0.1
    assert "the chief writes the metrics" in two_worker_run["resumed"][1][1]
    latest = tf.train.latest_checkpoint(str(logdir / "checkpoints"))  # the chief's, the newest
    assert latest and os.path.exists(latest + ".index"), latest
    evaluated = run_main("evaluate", f"--checkpoint={logdir}", "--device=cpu")
    report = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert report["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
