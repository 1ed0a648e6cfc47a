"""SIGTERM and SIGINT stop a run at a checkpoint of the batch in flight; ``--resume`` then ends
at the same weights, bit for bit, as a run never stopped."""

import json
import os
import re
import signal
import time

import numpy as np
import pytest

from binaries import run_binary, start_binary
from mnist_tf.runs import interrupts
from mnist_tf.runs import checkpoints
from mnist_tf.training import summaries
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from same_run import assert_bit_identical, figures
from test_reliability import Log, _scalars
from training_helpers import synthetic_mnist

QUICK = TrainConfig(epochs=2, batch_size=32, log_every=2, export=False, checkpoint_every_steps=0)
LINE = re.compile(r"^interrupted at epoch (\d+), batch (\d+): checkpoint (\S+); "
                  r"resume with --resume$")


def test_sigint_twice_stops_at_the_batch_in_flight_and_resume_is_bit_exact(tmp_path,
                                                                          monkeypatch):
    data = synthetic_mnist()  # 461 training images: 15 steps of 32 per epoch
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    expected = train_and_evaluate(QUICK, str(straight), data=data, log=Log())
    original = summaries.step_scalars

    def signal_at_step_20(writer, step, *args):  # epoch 2, batch 5
        original(writer, step, *args)
        if step == 20:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # a second one, while the first is handled

    monkeypatch.setattr(summaries, "step_scalars", signal_at_step_20)
    before = signal.getsignal(signal.SIGINT)
    with interrupts.stop_on_signals(), pytest.raises(interrupts.Interrupted) as info:
        train_and_evaluate(QUICK, str(stopped), data=data, log=Log())
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
    metrics = train_and_evaluate(QUICK, str(stopped), data=data, resume=True, log=log)
    assert "1 epoch and 5 batches done, step 20" in log.text()
    assert_bit_identical(straight, stopped)
    assert figures(metrics) == figures(expected)
    points = _scalars(stopped / "train")
    assert {tag: sorted(steps) for tag, steps in points.items()} == \
        {tag: sorted(steps) for tag, steps in _scalars(straight / "train").items()}


@pytest.mark.slow
def test_sigterm_to_train_py_saves_exits_143_and_resume_is_bit_exact(tmp_path, mnist):
    """Two SIGTERMs a millisecond apart during epoch 2 (or right at the end of epoch 1): one
    line naming the checkpoint, which holds the batch the line says; exit 143; ``--resume``
    ends bit-identical to the same run trained in one go (here in-process)."""
    config = QUICK.replace(steps_per_epoch=60, validation_split=0.01, log_every=10)
    logdir = tmp_path / "run"
    process = start_binary("train", "--device=cpu", "--noexport", f"--logdir={logdir}",
                           "--epochs=2", "--steps_per_epoch=60", "--batch_size=32",
                           "--validation_split=0.01", "--log_every=10",
                           "--checkpoint_every_steps=0")
    first, deadline = logdir / "checkpoints" / "ckpt-1.index", time.time() + 300
    while not first.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert first.exists(), process.communicate()
    signalled_at = time.time()
    process.send_signal(signal.SIGTERM)
    time.sleep(0.001)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    match = LINE.match(line)
    assert match, err
    epoch, batch, prefix = int(match[1]), int(match[2]), match[3]
    assert (checkpoints.epochs_done(prefix), checkpoints.batches_done(prefix)) in (
        (epoch - 1, batch), (epoch, 0) if batch == 60 else None)
    latency = os.stat(prefix + ".index").st_mtime - signalled_at
    print(f"signal to checkpoint: {latency * 1000:.0f} ms (epoch {epoch}, batch {batch})")
    assert not (logdir / "metrics.json").exists()

    resumed = run_binary("train", "--resume", f"--logdir={logdir}")
    assert resumed.returncode == 0, resumed.stderr
    straight = tmp_path / "straight"
    expected = train_and_evaluate(config, str(straight), data=mnist, log=Log())
    assert_bit_identical(straight, logdir)
    metrics = json.loads((logdir / "metrics.json").read_text())
    assert figures(metrics) == figures(expected)
