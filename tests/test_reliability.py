"""Runs and checkpoints: faults a user (or the machine) causes, each reproduced.

In-process on small synthetic data, the binaries too (``run_main``); they read the same
digits through the source chain from Keras's cache (:func:`data_env`), which has no
canonical checksum (``--data_dir``'s files must match the real ones). A real process only
where it alone shows the fault: a SIGKILLed holder of the logdir's lock here; a second
trainer beside a live one, and the signals, in test_interrupts.py.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from binaries import assert_one_line_error, run_main
from mnist_tf.errors import SettingError
from mnist_tf.runs import resume, saved_runs
from mnist_tf.training import config as config_lib, summaries
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from mnist_tf.runs.lock import LogdirInUseError, LogdirLock
from mnist_tf.training.state import DivergedError
from training_helpers import Log, data_env, scalar_steps as _scalars, synthetic_mnist

QUICK = TrainConfig(epochs=2, batch_size=32, log_every=2, export=False, explain_images=False)


def _weights(logdir):
    model, _ = saved_runs.load_model(str(logdir))
    return [v.numpy() for v in model.trainable_variables]


# 1. One trainer per logdir (a second trainer beside a live one: test_interrupts.py).

def test_a_held_logdir_is_refused_naming_the_holder_and_freed_by_its_sigkill(tmp_path):
    logdir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from mnist_tf.runs.lock import LogdirLock; "
         "LogdirLock(sys.argv[1]).__enter__(); print('locked', flush=True); time.sleep(600)",
         str(logdir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LogdirInUseError, match=f"PID {holder.pid}") as error:
            train_and_evaluate(QUICK, str(logdir), data=synthetic_mnist(), resume=True,
                               log=Log())
        assert "\n" not in str(error.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with LogdirLock(str(logdir)):  # the kernel released the dead holder's lock
        assert (logdir / ".lock").read_text().strip() == str(os.getpid())


# 2. A run killed before its first checkpoint.

def test_resuming_a_run_with_no_checkpoint_starts_it_from_the_beginning(tmp_path):
    logdir = tmp_path / "run"
    logdir.mkdir()
    saved = QUICK.replace(epochs=1, steps_per_epoch=3)
    config_lib.save(saved, str(logdir / "config.json"))  # what a kill right after it leaves
    log = Log()
    config = resume.run_config(str(logdir), True, {}, given=())
    metrics = train_and_evaluate(config, str(logdir), data=synthetic_mnist(), resume=True,
                                 log=log)
    assert "starting the run from the beginning, with its saved config" in log.text()
    assert metrics["steps"] == 3 and metrics["epochs_run_this_session"] == 1
    with LogdirLock(str(logdir)):  # free once the run has returned
        pass


# 3. Missing or damaged checkpoint state; leftovers of killed saves and exports.

def test_checkpoints_are_found_from_their_files_a_damaged_newest_is_skipped_and_leftovers_go(
        tmp_path):
    """The newest checkpoint is found without the ``checkpoint`` index file, and a truncated
    newest one is passed over; what a killed save or export left is removed at the next start."""
    data = synthetic_mnist()
    logdir = tmp_path / "run"
    config = QUICK.replace(epochs=4, steps_per_epoch=2, keep_checkpoints=3)
    train_and_evaluate(config, str(logdir), data=data, log=Log())
    ckpts = logdir / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("*.index")) == [
        "ckpt-2.index", "ckpt-3.index", "ckpt-4.index"]

    (ckpts / "checkpoint").unlink()  # the index file gone: the files still say where
    assert saved_runs.find_checkpoint(str(logdir)) == str(ckpts / "ckpt-4")
    os.remove(logdir / "metrics.json")  # as if killed in the final test
    leftovers = [ckpts / "ckpt-5_temp", logdir / ".export.tmp-4242-0badcafe"]
    for directory in leftovers:
        directory.mkdir()
        (directory / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 100)
    for path in (ckpts / "checkpoint.tmp0123abcd", logdir / "metrics.json.tmp"):
        path.write_text("half")
        leftovers.append(path)
    log = Log()
    train_and_evaluate(config.replace(epochs=5), str(logdir), data=data, resume=True, log=log)
    assert f"resumed from {ckpts / 'ckpt-4'}: 4 epochs" in log.text()
    assert "removed what a killed save or export left" in log.text()
    assert not any(path.exists() for path in leftovers)
    assert tf.train.latest_checkpoint(str(ckpts)) == str(ckpts / "ckpt-5")

    shard = next(ckpts.glob("ckpt-5.data-*"))  # the newest truncated: the one before it is used
    shard.write_bytes(shard.read_bytes()[:1000])
    assert saved_runs.find_checkpoint(str(logdir)) == str(ckpts / "ckpt-4")
    os.remove(logdir / "metrics.json")
    log = Log()
    metrics = train_and_evaluate(config.replace(epochs=6), str(logdir), data=data, resume=True,
                                 log=log)
    assert "skipping damaged checkpoint(s) ckpt-5" in log.text()
    assert "using the newest intact one, ckpt-4" in log.text()
    assert f"resumed from {ckpts / 'ckpt-4'}: 4 epochs" in log.text()
    assert metrics["epochs_run_this_session"] == 2 and metrics["steps"] == 12
    assert saved_runs.find_checkpoint(str(logdir)) == str(ckpts / "ckpt-6")


# 4. Divergence, end to end.

def test_a_diverging_run_stops_with_one_line_and_keeps_its_last_good_checkpoint(tmp_path):
    data, logdir = synthetic_mnist(), tmp_path / "run"
    common = ["--device=cpu", f"--logdir={logdir}", "--batch_size=16", "--steps_per_epoch=18",
              "--validation_split=0.01", "--log_every=2", "--optimizer=sgd", "--noexplain_images"]
    env = data_env(tmp_path, data)
    assert run_main("train", *common, "--epochs=1", "--noexport", env=env).returncode == 0
    good, record = _weights(logdir), (logdir / "metrics.json").read_bytes()
    # More epochs at a rate that diverges within a few steps (NaN by the 4th).
    result = run_main("train", *common, "--resume", "--epochs=3", "--learning_rate=1e8",
                      "--export", env=env)
    assert_one_line_error(result, "by step", "diverged", "smaller learning rate")
    assert result.returncode == 1
    step = int(result.stderr.split("by step ")[1].split(":")[0])
    assert 18 < step <= 18 + 2 * 2  # 18 steps in epoch 1; caught within log_every steps
    assert saved_runs.find_checkpoint(str(logdir)).endswith("ckpt-1")
    for a, b in zip(good, _weights(logdir)):
        np.testing.assert_array_equal(a, b)
    assert not (logdir / "export").exists() and not list(logdir.glob(".export*"))
    assert (logdir / "metrics.json").read_bytes() == record


def test_the_loop_raises_diverged_within_log_every_steps():
    config = QUICK.replace(epochs=1, optimizer="sgd", learning_rate=1e8, log_every=2)
    with pytest.raises(DivergedError, match=r"by step [1-6]: .*smaller learning rate"):
        train_and_evaluate(config, "ram://diverged/run", data=synthetic_mnist(), log=Log())


# 5, 5b. Resuming a finished run; resuming with fewer epochs.

def _event_files(logdir):
    return sorted(str(p.relative_to(logdir)) for p in logdir.rglob("*tfevents*"))


def test_a_finished_run_is_left_alone_fewer_epochs_are_refused_more_accumulate(tmp_path):
    data = synthetic_mnist()
    logdir = tmp_path / "run"
    config = QUICK.replace(steps_per_epoch=3)
    first = train_and_evaluate(config, str(logdir), data=data, log=Log())
    record = {name: (logdir / name).read_bytes() for name in ("config.json", "metrics.json")}
    events = {name: (logdir / name).read_bytes() for name in _event_files(logdir)}
    log = Log()
    again = train_and_evaluate(config, str(logdir), data=data, resume=True, log=log)
    assert "is a finished run of 2 epochs: nothing to train" in log.text()
    assert again == first and (logdir / "metrics.json").read_bytes() == record["metrics.json"]
    assert {name: (logdir / name).read_bytes() for name in _event_files(logdir)} == events

    # bin/train.py refuses fewer epochs, or reports the finished run, before its device line.
    for epochs in (1, 2):
        result = run_main("train", "--device=cpu", f"--logdir={logdir}", "--resume",
                          f"--epochs={epochs}")
        if epochs == 1:
            assert_one_line_error(result, "--epochs must be at least 2", "has done already")
            assert result.returncode == 2
        else:
            assert result.returncode == 0, result.stderr
            assert "is finished" in result.stdout and "nothing to do" in result.stdout
        assert "device:" not in result.stdout and "logdir:" not in result.stdout
        assert {name: (logdir / name).read_bytes() for name in record} == record

    time.sleep(0.2)
    more = train_and_evaluate(config.replace(epochs=3), str(logdir), data=data, resume=True,
                              log=Log())
    assert more["epochs"] == 3 and more["epochs_run_this_session"] == 1 and more["steps"] == 9
    assert more["wall_seconds"] > first["wall_seconds"]
    assert more["train_images_per_second"] > 0
    test_points = _scalars(logdir / "test")["epoch/accuracy"]
    assert sorted(test_points) == [2, 3]  # the first session's test result stays

    saved_config = (logdir / "config.json").read_bytes()
    os.remove(logdir / "metrics.json")  # even killed before its report, the checkpoint says 3
    with pytest.raises(SettingError, match="epochs must be at least 3") as error:
        train_and_evaluate(config.replace(epochs=2), str(logdir), data=data, resume=True,
                           log=Log())
    assert error.value.setting == "epochs" and "\n" not in str(error.value)
    assert (logdir / "config.json").read_bytes() == saved_config


# 6. Killed mid-epoch: resumed from the batch after the checkpoint, each event once.

class Killed(Exception):
    pass


def test_killed_mid_epoch_resumes_after_its_checkpoint_with_each_event_once(tmp_path,
                                                                           monkeypatch):
    """A run killed after a mid-epoch checkpoint refuses to resume with another batching of
    that epoch, resumes with its own, and ends as a run never killed; at an epoch's end a
    longer run may take another batch size."""
    data = synthetic_mnist()  # 461 training images: 15 steps of 32 per epoch
    config = QUICK.replace(checkpoint_every_steps=4, histogram_every=5)
    straight = tmp_path / "straight"
    train_and_evaluate(config, str(straight), data=data, log=Log())

    killed = tmp_path / "killed"
    original = summaries.step_scalars

    def kill_at_step_22(writer, step, *args):  # checkpoints at 16 (epoch 2, batch 1), 20
        original(writer, step, *args)
        if step == 22:
            writer.flush()  # what a SIGKILL finds on disk: events past the checkpoint
            raise Killed()

    monkeypatch.setattr(summaries, "step_scalars", kill_at_step_22)
    with pytest.raises(Killed):
        train_and_evaluate(config, str(killed), data=data, log=Log())
    assert 22 in _scalars(killed / "train")["step/loss"]
    monkeypatch.setattr(summaries, "step_scalars", original)
    for name, value in [("batch_size", 16), ("steps_per_epoch", 5), ("validation_split", 0.2),
                        ("seed", 1)]:  # another batching of the epoch in flight: refused
        with pytest.raises(SettingError, match=f"^{name} cannot change from .* inside an epoch: "
                                               f".*ckpt-6 was saved after 5 batches of epoch 2; "
                                               f"resume with"):
            train_and_evaluate(config.replace(**{name: value}), str(killed), data=data,
                               resume=True, log=Log())

    log = Log()
    metrics = train_and_evaluate(config, str(killed), data=data, resume=True, log=log)
    assert "1 epoch and 5 batches done, step 20" in log.text()
    assert "TensorBoard event(s) written after the checkpoint" in log.text()
    assert metrics["steps"] == 30 and metrics["epochs_run_this_session"] == 1
    for a, b in zip(_weights(straight), _weights(killed)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    expected = json.loads((straight / "metrics.json").read_text())
    assert metrics["train"] == pytest.approx(expected["train"])  # the epoch's sums came back

    for run in ("train", "validation", "test"):
        points, reference = _scalars(killed / run), _scalars(straight / run)
        assert {tag: sorted(steps) for tag, steps in points.items()} == \
            {tag: sorted(steps) for tag, steps in reference.items()}, run
        for tag, steps in points.items():
            assert len(steps) == len(set(steps)), (run, tag, steps)
    assert len(_scalars(killed / "train")["gradients/conv2d/kernel"]) == 6  # every 5 steps

    # At the end of epoch 2 (a checkpoint at an epoch's end) a longer run may batch anew.
    metrics = train_and_evaluate(config.replace(epochs=3, batch_size=16), str(killed),
                                 data=data, resume=True, log=Log())
    assert metrics["epochs"] == 3


def test_checkpoint_every_steps_is_a_named_setting():
    with pytest.raises(SettingError, match="^checkpoint_every_steps must be 0 or more"):
        TrainConfig(checkpoint_every_steps=-1).validate()


# 11. Every file a run writes goes through tf.io.gfile.

def test_a_run_logs_to_any_tf_io_gfile_filesystem():
    logdir = "ram://mnist_tf_run/logs/run"
    train_and_evaluate(QUICK.replace(epochs=1, steps_per_epoch=2), logdir,
                       data=synthetic_mnist(), log=Log())
    for name in ("config.json", "metrics.json", "checkpoints/ckpt-1.index"):
        assert tf.io.gfile.exists(f"{logdir}/{name}"), name
    assert tf.io.gfile.glob(f"{logdir}/train/*tfevents*")
    metrics = train_and_evaluate(QUICK.replace(epochs=2, steps_per_epoch=2), logdir,
                                 data=synthetic_mnist(), resume=True, log=Log())
    assert metrics["steps"] == 4


# 12. The Profile tab.

def test_the_profile_plugin_is_installed_and_lists_the_runs_trace(tmp_path):
    from tensorboard.plugins import base_plugin
    from xprof.profile_plugin_loader import ProfilePluginLoader

    logdir = tmp_path / "run"
    train_and_evaluate(QUICK.replace(epochs=1, steps_per_epoch=3, profile=True), str(logdir),
                       data=synthetic_mnist(), log=Log())
    traces = list(logdir.glob("plugins/profile/*/*.xplane.pb"))  # where the plugin looks
    assert len(traces) == 1
    context = base_plugin.TBContext(logdir=str(logdir), data_provider=None,
                                    flags=argparse.Namespace(master_tpu_unsecure_channel=""))
    plugin = ProfilePluginLoader().load(context)
    assert plugin is not None
    assert traces[0].parent.name in list(plugin.generate_runs())
