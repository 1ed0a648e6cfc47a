"""Two workers (MultiWorkerMirroredStrategy over loopback): a signal to one stops both at the
same checkpoint, a killed one makes the other exit with one line, the job resumes, and every
refusal is given alike by both workers.

One chain of runs in one logdir, shared by the tests below (a pair of workers costs ~30 s):
    A  50 epochs of 100 steps; SIGTERM to worker 1 once the chief's ckpt-1 exists
    B  --resume; SIGKILL to worker 1 once a newer checkpoint exists; worker 0 left to notice
    C  --resume --epochs=3, to the end
    D  four copies of the finished logdir, four pairs at once, each refused (or told it is
       finished) alike: finished, --epochs=2, every checkpoint damaged, the logdir locked
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from binaries import ROOT, run_binary, start_binary
from mnist_tf.runs import checkpoints, saved_runs

LINE = re.compile(r"^interrupted at epoch (\d+), batch (\d+): checkpoint (\S+); "
                  r"resume with --resume$")


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


def _start_workers(logdir, *args, ports=None):
    ports = ports or _free_ports(2)
    return [start_binary("train", "--strategy=multi_worker", "--device=cpu", f"--logdir={logdir}",
                         "--noexport", *args, env={"TF_CONFIG": _tf_config(ports, i)})
            for i in range(2)]


def _wait_for(path, workers, seconds=300):
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline and all(w.poll() is None
                                                               for w in workers):
        time.sleep(0.1)
    return path.exists()


def _outcomes(workers, timeout=300):
    """[(returncode, stdout, stderr, seconds until it exited)] of each worker."""
    started, results = time.time(), []
    for worker in workers:
        try:
            out, err = worker.communicate(timeout=max(1, timeout - (time.time() - started)))
        except subprocess.TimeoutExpired:
            worker.kill()
            out, err = worker.communicate()
        results.append((worker.returncode, out, err, time.time() - started))
    return results


def _kill(workers):
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
    return [w.communicate() for w in workers]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_workers")
    logdir, ckpts = root / "run", root / "run" / "checkpoints"
    run = {"logdir": logdir}
    workers = _start_workers(logdir, "--epochs=50", "--steps_per_epoch=100", "--batch_size=64")
    if not _wait_for(ckpts / "ckpt-1.index", workers):
        pytest.fail(f"no first checkpoint: {_kill(workers)}")
    workers[1].send_signal(signal.SIGTERM)  # the non-chief: the chief must stop too
    run["signalled"] = _outcomes(workers, timeout=180)

    workers = _start_workers(logdir, "--resume")
    newest = checkpoints.number(tf.train.latest_checkpoint(str(ckpts)))
    if not _wait_for(ckpts / f"ckpt-{newest + 1}.index", workers):
        pytest.fail(f"no checkpoint after the resume: {_kill(workers)}")
    run["resumed_once"] = workers
    workers[1].kill()
    workers[1].wait()
    run["survivor"] = _outcomes(workers[:1], timeout=180)[0]

    run["finished"] = _outcomes(_start_workers(logdir, "--resume", "--epochs=3"), timeout=900)

    cases = {"finished": ["--epochs=3"], "fewer_epochs": ["--epochs=2"],
             "damaged": ["--epochs=4"], "in_use": ["--epochs=4"]}
    copies = {case: root / case for case in cases}
    for copy in copies.values():
        shutil.copytree(logdir, copy)
    for shard in (copies["damaged"] / "checkpoints").glob("ckpt-*.data-*"):
        shard.write_bytes(shard.read_bytes()[:1000])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from mnist_tf.runs.lock import LogdirLock; "
         "LogdirLock(sys.argv[1]).__enter__(); print('locked', flush=True); time.sleep(600)",
         str(copies["in_use"])], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "locked"
        ports = iter(_free_ports(2 * len(cases)))  # all at once: no two pairs share a port
        pairs = {case: _start_workers(copies[case], "--resume", *args,
                                      ports=[next(ports), next(ports)])
                 for case, args in cases.items()}
        run["refusals"] = {case: _outcomes(pair, timeout=400) for case, pair in pairs.items()}
        run["holder"] = holder.pid
    finally:
        holder.kill()
        holder.wait()
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
    assert checkpoints.epochs_done(prefix) * 100 + checkpoints.batches_done(prefix) == \
        (epoch - 1) * 100 + batch
    assert all(len(err.strip().splitlines()) == 1 for err in (err0, err1)), (err0, err1)


@pytest.mark.slow
def test_a_dead_worker_makes_the_other_exit_with_one_line_within_60_s(chain):
    returncode, _, err, elapsed = chain["survivor"]
    assert returncode != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: lost contact with another worker"), err
    assert elapsed < 60


@pytest.mark.slow
def test_two_workers_resume_and_the_chief_keeps_a_good_checkpoint(chain):
    """After the signal and the kill, both workers restore the chief's newest checkpoint and
    follow the schedule to its (here shortened) end: 300 steps of a global batch of 64."""
    logdir = chain["logdir"]
    for returncode, out, err, _ in chain["finished"]:
        assert returncode == 0, err[-3000:]
        assert "resumed from" in out
    metrics = json.loads((logdir / "metrics.json").read_text())
    assert metrics["replicas"] == 2
    assert metrics["steps"] == 300 and metrics["epochs_run_this_session"] >= 1
    assert metrics["test_accuracy"] > 0.9
    # Training accuracy counts the global batch (both workers' halves), not this worker's half.
    assert 0.5 < metrics["train"]["accuracy"] <= 1.0
    assert abs(metrics["train"]["accuracy"] - metrics["test_accuracy"]) < 0.1
    assert "the chief writes the metrics" in chain["finished"][1][1]
    latest = tf.train.latest_checkpoint(str(logdir / "checkpoints"))  # the chief's, the newest
    assert latest and os.path.exists(latest + ".index"), latest
    evaluated = run_binary("evaluate", f"--checkpoint={logdir}", "--device=cpu")
    report = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert report["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    model, _ = saved_runs.load_model(logdir)
    assert model.trainable_variables


@pytest.mark.slow
@pytest.mark.parametrize("case, status, fragments", [
    ("finished", 0, ["is finished: 3 epochs", "nothing to do"]),
    ("fewer_epochs", 2, ["error: --epochs must be at least 3"]),
    ("damaged", 1, ["error: ", "damaged", "no older intact checkpoint"]),
    ("in_use", 1, ["error: ", "in use by another trainer (PID"]),
])
def test_every_worker_refuses_alike_and_none_is_left_waiting(chain, case, status, fragments):
    (rc0, out0, err0, _), (rc1, out1, err1, _) = chain["refusals"][case]
    assert (rc0, rc1) == (status, status), (err0[-2000:], err1[-2000:])
    said = [(out if status == 0 else err).strip().splitlines() for out, err in
            ((out0, err0), (out1, err1))]
    assert said[0] == said[1] and len(said[0]) == 1, said  # one line, the same on both
    for fragment in fragments:
        assert fragment in said[0][0], (fragment, said[0][0])
    if case == "in_use":
        assert f"PID {chain['holder']})" in said[0][0]
    assert "Traceback" not in err0 + err1
