"""A run's life in one process (one session of it): what happens around the training loop.

    Run(...)       take the logdir's lock (held to the end) → the one resume check
                   (``resume.check``): refuse, or report a finished run
    run.start()    load the data → clear what a killed session left → build the state
                   → restore the newest intact checkpoint → drop TensorBoard events a
                   resume replays → config.json, writers, hparams
    run.save()     the next checkpoint (mid-epoch too)
    run.finish()   evaluate the test set → test summaries → SavedModel → metrics.json
    run.close()    close the writers, release the lock

A run that was killed and resumed is several sessions: each is a :class:`Run`.
"""

import math
import os
import shutil
import time

import tensorflow as tf

from mnist_tf import distribute
from mnist_tf.data import sources
from mnist_tf.runs import checkpoint_repair, checkpoints, event_purge, layout, report, resume
from mnist_tf.runs.lock import LogdirLock
from mnist_tf.training import config as config_lib, summaries
from mnist_tf.training.datasets import RunData
from mnist_tf.training.evaluation import evaluate
from mnist_tf.training.state import TrainState


class Run:
    """One session of a run in ``logdir``; use as ``with Run(...) as run:``.

    Args:
      config: the run's ``TrainConfig`` (``resume.run_config``).
      logdir: where the TensorBoard runs, ``config.json`` and ``metrics.json`` go.
      resume: continue from the newest intact checkpoint.
      strategy: a ``tf.distribute.Strategy``; None for the default (one device).
      log: where messages go.

    Attributes:
      finished: the metrics.json of a run with nothing left to train, else None.
      config, dirs, data, state, writers, first_epoch: set by :meth:`start`.

    Raises (on entering):
      LogdirInUseError, CheckpointError, SettingError: the logdir is refused.
    """

    def __init__(self, config, logdir: str, resume: bool = False, strategy=None, log=print):
        self.started = time.perf_counter()
        self.strategy = strategy or tf.distribute.get_strategy()
        distribute.check_settings(self.strategy, config)
        # Absolute, so that a resume and evaluate.py find it from the logdir, from any directory.
        self.config = config.validate().replace(
            checkpoint_dir=layout.absolute(config.checkpoint_dir))
        self.logdir, self.resume, self.log = logdir, resume, log
        self.dirs = layout.RunDirs(self.config, logdir, self.strategy)
        self.finished = self.newest = None
        self._lock = LogdirLock(logdir if self.dirs.chief else None)
        self.writers = {}

    def __enter__(self):
        self._lock.__enter__()
        try:
            if self.dirs.chief:
                self.finished = resume.check(self.logdir, self.config, self.resume)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
        self._lock.__exit__(None, None, None)

    def start(self, data=None, data_dir: str = None, extra_hparams=None) -> None:
        """Everything before the first step (the module docstring); ``data`` an
        ``MnistArrays`` (None: MNIST through the source chain, from ``data_dir``)."""
        config, dirs = self.config, self.dirs
        self.data = RunData(config, data if data is not None else sources.load(data_dir),
                            self.strategy)
        layout.make_dirs(dirs)
        if dirs.chief:
            layout.remove_leftovers(dirs, self.log)
        self.state = TrainState(config, self.strategy, self.data.steps_per_epoch)
        self._number, self._wall_before, saved_at = 0, 0.0, -math.inf
        newest = (checkpoint_repair.newest_intact(dirs.checkpoint_dir, self.log)
                  if self.resume else None)
        if self.resume and not newest:
            self.log(f"no checkpoint in {dirs.checkpoint_dir} yet: starting the run from the "
                     "beginning, with its saved config")
        if newest:
            saved_at = self._restore(newest)
        self.manager = checkpoints.make_manager(dirs.own_checkpoint_dir, self.state,
                                                config.keep_checkpoints)
        self.first_epoch = self.state.epochs_done
        if dirs.chief and self.resume:  # before the writers open their new files
            event_purge.purge_replayed_events(
                dirs.logdir, event_purge.replay_cut(dirs.logdir, saved_at), self.log)
        config_lib.save(config, os.path.join(dirs.logdir, layout.CONFIG_FILE))
        self.writers = summaries.make_writers(dirs.logdir)
        if self.state.step == 0:
            summaries.hparams(dirs.logdir, {**config.to_dict(), **(extra_hparams or {})},
                              trial_id=dirs.trial_id)

    def _restore(self, prefix: str) -> float:
        """Restores ``prefix`` into the state; returns when it was written (``time.time()``)."""
        state = self.state
        note = checkpoints.restore_run(prefix, state)
        self._number = max(checkpoints.number(prefix), 0)
        self._wall_before = state.totals["wall_seconds"]
        directory = self.dirs.checkpoint_dir
        if directory == self.dirs.own_checkpoint_dir and \
                tf.train.latest_checkpoint(directory) != prefix:
            files = checkpoint_repair.checkpoint_files(directory)
            checkpoint_repair.rewrite_index(directory, files[files.index(prefix):])
        self.log(f"resumed from {prefix}: {_count(state.epochs_done, 'epoch', 'epochs')} and "
                 f"{_count(state.batches_done, 'batch', 'batches')} done, step {state.step}"
                 + (f"; {note}" if note else ""))
        return state.totals["saved_at"] or tf.io.gfile.stat(prefix + ".index").mtime_nsec / 1e9

    @property
    def session_steps(self) -> int:
        """Training steps this session will take."""
        return ((self.config.epochs - self.first_epoch) * self.data.steps_per_epoch
                - self.state.batches_done)

    def wall_seconds(self) -> float:
        """Wall-clock seconds of the run: its earlier sessions (up to their last checkpoint)
        and this one."""
        return self._wall_before + time.perf_counter() - self.started

    def save(self, epochs_done: int, batches_done: int = 0) -> None:
        """Writes the next checkpoint (``ckpt-1``, ``ckpt-2``, ...): ``epochs_done`` epochs and
        ``batches_done`` batches of the next one.

        Raises:
          DivergedError: a weight is not finite; nothing is written, so the last
            good checkpoint stays the newest.
        """
        state = self.state
        state.check_finite(epochs_done * self.data.steps_per_epoch + batches_done)
        state.progress.epoch.assign(epochs_done)
        state.totals.batch.assign(batches_done)
        state.totals.values["wall_seconds"].assign(self.wall_seconds())
        state.totals.values["saved_at"].assign(time.time())
        self._number += 1
        self.manager.save(checkpoint_number=self._number)

    def finish(self, export_fn=None) -> dict:
        """Everything after the last step: the test set, the SavedModel (when the config asks
        for one and ``export_fn(model, directory)`` is given), metrics.json; returns the metrics."""
        config, state, writers = self.config, self.state, self.writers
        test = evaluate(state.eval_step, self.data.test_batches())
        summaries.epoch_scalars(writers["test"], config.epochs, test.loss, test.accuracy)
        summaries.test_images(writers["test"], config.epochs, *self.data.test, test)
        self.log(f"test loss {test.loss:.4f}  test accuracy {test.accuracy:.4f}")
        if config.export and export_fn is not None:
            export_fn(state.model, os.path.join(self.dirs.logdir, "export"))
        metrics = report.write_metrics(
            os.path.join(self.dirs.logdir, report.METRICS_FILE), test,
            state.epoch_metrics.as_dict(), epochs=config.epochs,
            epochs_run=config.epochs - self.first_epoch, steps=state.step,
            wall_seconds=self.wall_seconds(), train_images_per_second=state.images_per_second(),
            replicas=self.strategy.num_replicas_in_sync)
        if not self.dirs.chief:
            shutil.rmtree(self.dirs.logdir, ignore_errors=True)
        return metrics


def _count(n: int, one: str, many: str) -> str:
    """``1 epoch``, ``4 epochs``, ``0 batches``."""
    return f"{n} {one if n == 1 else many}"
