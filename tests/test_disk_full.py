"""A full disk, on a real filesystem: a 16 MB tmpfs filled at each writer of a run in turn.

One run is stopped by a full disk five times, once at each writer — a checkpoint, config.json,
TensorBoard events, the export, metrics.json — and resumed after each (space freed); each
time the error is one line naming what was being written and "no space left", the previous
checkpoint is intact, nothing half-written is left, and the run ends with the same weights and
figures as a run the disk never stopped. ``bin/export.py`` on the full disk then keeps the
run's export. Mounting a tmpfs needs root (CI runs as root); elsewhere the test is skipped.
"""

import errno
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from binaries import assert_one_line_error, run_main
from mnist_tf import export
from mnist_tf.runs.disk_full import DiskFullError
from mnist_tf.runs import checkpoint_repair, json_files, report
from mnist_tf.training import config as config_lib, summaries
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from same_run import assert_bit_identical, figures
from test_reliability import Log, _scalars
from training_helpers import synthetic_mnist

CONFIG = TrainConfig(explain_images=False, epochs=2, batch_size=32, log_every=2,
                     checkpoint_every_steps=4, histogram_every=5)


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs of its own (unmounted after the test)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a size-limited tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk) -> None:
    """Writes ``disk/filler`` until the filesystem has not one byte left."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0


def free(disk) -> None:
    os.remove(disk / "filler")


def left_half_written(logdir) -> list:
    """Files a failed write leaves under temporary names."""
    return sorted(str(p.relative_to(logdir)) for p in logdir.rglob("*")
                  if p.name.endswith(("_temp", ".tmp")) or ".tmp-" in p.name
                  or p.name.startswith("checkpoint.tmp"))


def test_a_full_disk_at_each_writer_is_one_line_and_the_run_resumes_to_the_same_end(
        small_disk, tmp_path, monkeypatch):
    data = synthetic_mnist()  # 15 steps of 32 per epoch: checkpoints at 4, 8, 12, 15, 16, ...
    straight = tmp_path / "straight"  # its export, which changes no figure, is left out
    expected = train_and_evaluate(CONFIG, str(straight), data=data, log=Log())
    logdir = small_disk / "run"
    ckpts = logdir / "checkpoints"

    def fills_at(module, name, condition):
        """A set-up: ``module.name``, filling the disk first when ``condition(*args)``."""
        def set_up(patch):
            original = getattr(module, name)

            def filling(*args, **kwargs):
                if condition(*args):
                    fill(small_disk)
                return original(*args, **kwargs)

            patch.setattr(module, name, filling)
        return set_up

    def events_flushed_at_step_22(patch):
        original = summaries.step_scalars

        def step_scalars(writer, step, *args):
            original(writer, step, *args)
            if step == 22:
                fill(small_disk)
                writer.flush()

        patch.setattr(summaries, "step_scalars", step_scalars)

    saves = []
    stages = [  # (what fills, the path the line must name)
        (fills_at(tf.train.CheckpointManager, "save",
                  lambda *a: saves.append(1) or len(saves) == 3), ckpts / "ckpt-3"),
        (fills_at(json_files, "write_json", lambda path, value: path.endswith("config.json")),
         logdir / "config.json"),
        (events_flushed_at_step_22, logdir / "train" / "events.out.tfevents"),
        (fills_at(export, "export_saved_model", lambda *a: True), logdir / "export"),
        (fills_at(report, "write_json", lambda path, value: path.endswith("metrics.json")),
         logdir / "metrics.json"),
    ]
    resume = False
    for set_up, path in stages:
        previous = tf.train.latest_checkpoint(str(ckpts))
        with monkeypatch.context() as patch:
            set_up(patch)
            with pytest.raises(DiskFullError) as error:
                train_and_evaluate(CONFIG, str(logdir), data=data, resume=resume, log=Log(),
                                   export_fn=export.export_saved_model)
        message = str(error.value)
        assert "\n" not in message and message.startswith(str(path)), message
        assert ": no space left on device; " in message and "--resume" in message, message
        newest = tf.train.latest_checkpoint(str(ckpts))
        if path.name != "ckpt-3":
            assert newest and newest != previous or path.name in ("config.json", "metrics.json")
        assert newest is None or checkpoint_repair.damage(newest) is None
        assert newest is None or f"the newest checkpoint, {newest}, is intact" in message
        assert left_half_written(logdir) == []
        if path.name == "config.json":
            assert config_lib.load(str(logdir / "config.json")) == \
                CONFIG.replace(checkpoint_dir=None)  # the previous one, whole
        if path.name.startswith("events"):
            assert 20 in _scalars(logdir / "train")["step/loss"]  # TensorBoard reads the file
        if path.name == "metrics.json":
            assert not (logdir / "metrics.json").exists()
            assert tf.saved_model.contains_saved_model(str(logdir / "export"))
        free(small_disk)
        resume = True

    metrics = train_and_evaluate(CONFIG, str(logdir), data=data, resume=True, log=Log(),
                                 export_fn=export.export_saved_model)
    assert figures(metrics) == figures(expected)
    assert_bit_identical(straight, logdir)

    # bin/export.py over the run's export, the disk full: one line, the export kept.
    before = export.load_predictor(str(logdir / "export"))(data.x_test[:8])
    fill(small_disk)
    result = run_main("export", f"--checkpoint_dir={logdir}",
                      f"--export_dir={logdir / 'export'}")
    assert_one_line_error(result, f"{logdir / 'export'}: no space left on device",
                          "a previous export there is kept")
    assert result.returncode == 1
    assert left_half_written(logdir) == []
    np.testing.assert_array_equal(export.load_predictor(str(logdir / "export"))(data.x_test[:8]),
                                  before)
