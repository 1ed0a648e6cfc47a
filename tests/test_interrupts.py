"""A run stopped by a signal loses nothing: ``--resume`` ends at the weights of a run never
stopped. SIGTERM and SIGINT stop it at a checkpoint of the batch in flight (bit for bit);
after a SIGKILL it resumes from its last checkpoint.

One run never stopped (in-process) is the reference of all three. SIGKILL and SIGTERM go to
``bin/train.py`` in a real process (exit status, what a kill leaves on disk), which reads the
same synthetic digits from Keras's cache (``data_env``); the resumes run in-process.
"""

import json
import os
import re
import signal
import time

import numpy as np
import pytest

from binaries import assert_one_line_error, run_main, start_binary
from mnist_tf.runs import interrupts
from mnist_tf.runs import checkpoints
from mnist_tf.training import summaries
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from same_run import assert_bit_identical, figures
from training_helpers import Log, data_env, scalar_steps as _scalars
from training_helpers import synthetic_mnist, weights

# The tests share the module's reference run: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("interrupts")

# 461 training images (512, the last 10% held out): 15 steps of 32 per epoch, 30 in all.
CONFIG = TrainConfig(epochs=2, batch_size=32, log_every=2, export=False, explain_images=False,
                     checkpoint_every_steps=0)
STEPS_PER_EPOCH = 15
FLAGS = ["--device=cpu", "--epochs=2", "--batch_size=32", "--log_every=2", "--noexport",
         "--noexplain_images", "--checkpoint_every_steps=0"]  # CONFIG
LINE = re.compile(r"^interrupted at epoch (\d+), batch (\d+): checkpoint (\S+); "
                  r"resume with --resume$")


@pytest.fixture(scope="module")
def data():
    return synthetic_mnist()


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory):
    """The run never stopped: ``(logdir, metrics)``."""
    logdir = tmp_path_factory.mktemp("straight") / "run"
    return logdir, train_and_evaluate(CONFIG, str(logdir), data=data, log=Log())


def _until_first_checkpoint(process, logdir) -> None:
    """Waits until ``process`` has written its first checkpoint whole (the ``checkpoint``
    index follows the checkpoint's files), or has ended."""
    index, deadline = logdir / "checkpoints" / "checkpoint", time.time() + 300
    while not index.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)


def test_sigint_twice_stops_at_the_batch_in_flight_and_resume_is_bit_exact(tmp_path, data,
                                                                          straight, monkeypatch):
    straight_dir, expected = straight
    stopped = tmp_path / "stopped"
    original = summaries.step_scalars

    def signal_at_step_20(writer, step, *args):  # epoch 2, batch 5
        original(writer, step, *args)
        if step == 20:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # a second one, while the first is handled

    monkeypatch.setattr(summaries, "step_scalars", signal_at_step_20)
    before = signal.getsignal(signal.SIGINT)
    with interrupts.stop_on_signals(), pytest.raises(interrupts.Interrupted) as info:
        train_and_evaluate(CONFIG, str(stopped), data=data, log=Log())
    assert signal.getsignal(signal.SIGINT) is before  # put back after the block
    monkeypatch.setattr(summaries, "step_scalars", original)
    stop = info.value
    prefix = str(stopped / "checkpoints" / "ckpt-2")
    assert str(stop) == (f"interrupted at epoch 2, batch 5: checkpoint {prefix}; "
                         "resume with --resume")
    assert (stop.signum, stop.exit_status) == (signal.SIGINT, 130)
    assert (checkpoints.epochs_done(prefix), checkpoints.batches_done(prefix)) == (1, 5)
    assert 20 in _scalars(stopped / "train")["step/loss"]  # flushed before the save

    log = Log()
    metrics = train_and_evaluate(CONFIG, str(stopped), data=data, resume=True, log=log)
    assert "1 epoch and 5 batches done, step 20" in log.text()
    assert_bit_identical(straight_dir, stopped)
    assert figures(metrics) == figures(expected)
    points = _scalars(stopped / "train")
    assert {tag: sorted(steps) for tag, steps in points.items()} == \
        {tag: sorted(steps) for tag, steps in _scalars(straight_dir / "train").items()}


def test_a_held_stop_ignores_signals_after_its_block_only_when_the_run_stopped():
    """``hold_after_stop``: without a stop the previous handler comes back; after this
    process's signal, or a stop for a peer's (``Interrupted`` with no signal here), SIGTERM
    and SIGINT are ignored until the process exits."""
    previous = {s: signal.getsignal(s) for s in interrupts.SIGNALS}
    before = previous[signal.SIGTERM]
    try:
        with interrupts.stop_on_signals(hold_after_stop=True):
            pass
        assert signal.getsignal(signal.SIGTERM) is before
        with interrupts.stop_on_signals(hold_after_stop=True):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
        assert [signal.getsignal(s) for s in interrupts.SIGNALS] == [signal.SIG_IGN] * 2
        for s, handler in previous.items():
            signal.signal(s, handler)
        with pytest.raises(interrupts.Interrupted), \
                interrupts.stop_on_signals(hold_after_stop=True):
            raise interrupts.Interrupted(signal.SIGTERM, 1, 0, "ckpt-1")  # a peer's stop
        assert [signal.getsignal(s) for s in interrupts.SIGNALS] == [signal.SIG_IGN] * 2
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def test_sigterm_to_train_py_saves_exits_143_and_resume_is_bit_exact(tmp_path, data, straight):
    """Two SIGTERMs a millisecond apart during epoch 2 (or right at the end of epoch 1), and
    a third once the stop is announced (a late one, while the process exits): one line naming
    the checkpoint, which holds the batch the line says; exit 143; ``--resume`` ends
    bit-identical to the same run trained in one go."""
    straight_dir, expected = straight
    env, logdir = data_env(tmp_path, data), tmp_path / "run"
    process = start_binary("train", *FLAGS, f"--logdir={logdir}", env=env)
    _until_first_checkpoint(process, logdir)
    assert process.poll() is None, process.communicate()
    signalled_at = time.time()
    process.send_signal(signal.SIGTERM)
    time.sleep(0.001)
    process.send_signal(signal.SIGTERM)
    err = ""
    while not LINE.match(err.rstrip("\n").rsplit("\n", 1)[-1]):
        line = process.stderr.readline()
        assert line, err  # the process ended without its line
        err += line
    process.send_signal(signal.SIGTERM)  # the previous handler is not put back: it must not kill
    out, rest = process.communicate(timeout=120)
    err += rest
    assert process.returncode == 143, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    match = LINE.match(line)
    assert match, err
    epoch, batch, prefix = int(match[1]), int(match[2]), match[3]
    assert (checkpoints.epochs_done(prefix), checkpoints.batches_done(prefix)) in (
        (epoch - 1, batch), (epoch, 0) if batch == STEPS_PER_EPOCH else None)
    latency = os.stat(prefix + ".index").st_mtime - signalled_at
    print(f"signal to checkpoint: {latency * 1000:.0f} ms (epoch {epoch}, batch {batch})")
    assert not (logdir / "metrics.json").exists()

    resumed = run_main("train", "--resume", "--device=cpu", f"--logdir={logdir}", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert_bit_identical(straight_dir, logdir)
    metrics = json.loads((logdir / "metrics.json").read_text())
    assert figures(metrics) == figures(expected)


def test_a_live_trainer_refuses_a_second_and_after_a_sigkill_resume_loses_nothing(
        tmp_path, data, straight):
    """While ``bin/train.py`` trains, a second trainer on its logdir (resuming or not) is
    refused naming its PID, before it prints anything. SIGKILLed once its first checkpoint
    (epoch 1's end) is written, the run resumes from it to the weights of a run never killed,
    and bin/evaluate.py scores the whole test set as the run did."""
    straight_dir, expected = straight
    env, killed = data_env(tmp_path, data), tmp_path / "killed"
    process = start_binary("train", *FLAGS, f"--logdir={killed}", env=env)
    try:
        deadline = time.time() + 300
        while not (killed / "config.json").exists() and time.time() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        for resume in ([], ["--resume"]):
            second = run_main("train", *FLAGS, f"--logdir={killed}", *resume, env=env)
            assert_one_line_error(second, str(killed), f"PID {process.pid}", "in use")
            assert "device:" not in second.stdout and "logdir:" not in second.stdout
            assert process.poll() is None
        _until_first_checkpoint(process, killed)
    finally:
        if process.poll() is None:  # else returncode 0 or an error: named below
            process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, process.communicate()
    assert not (killed / "metrics.json").exists()

    resumed = run_main("train", "--resume", "--device=cpu", f"--logdir={killed}", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "device: /CPU:0" in resumed.stdout
    assert "resumed from" in resumed.stdout and "test accuracy" in resumed.stdout
    for a, b in zip(weights(straight_dir), weights(killed)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    metrics = json.loads((killed / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(expected["test_accuracy"], abs=1e-6)
    assert metrics["steps"] == expected["steps"] == 2 * STEPS_PER_EPOCH

    evaluated = run_main("evaluate", f"--checkpoint={killed}", "--device=cpu", env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert report["accuracy"] == pytest.approx(expected["test_accuracy"], abs=1e-6)
    assert report["count"] == len(data.y_test)
    assert np.sum(report["confusion_matrix"]) == len(data.y_test)
    assert len(report["per_class_accuracy"]) == 10
