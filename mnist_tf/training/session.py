"""One session of a run: what happens before its first training step and after its last.

    start:   validate the config → refuse or report a finished run → load the data
             → clear what a killed session left → build (or restore) the state
             → drop TensorBoard events a resume replays → config.json, writers, hparams
    finish:  evaluate the test set → test summaries → SavedModel → metrics.json

A run that was killed and resumed is several sessions; each holds the logdir's
lock (``lock.LogdirLock``, taken by the loop) from before ``start`` to after
``finish``.
"""

import dataclasses
import os
import shutil
import time

from mnist_tf.data import sources
from mnist_tf.training import config as config_lib, event_purge, report, run as run_lib
from mnist_tf.training import summaries
from mnist_tf.training.datasets import RunData
from mnist_tf.training.evaluation import evaluate
from mnist_tf.training.state import TrainState


@dataclasses.dataclass
class Session:
    """What the loop trains: config, directories, data, state, TensorBoard writers.

    ``finished`` is the metrics.json of a run that has nothing left to train (the
    other fields are then None).
    """

    config: object
    dirs: run_lib.RunDirs = None
    data: RunData = None
    state: TrainState = None
    writers: dict = None
    first_epoch: int = 0
    finished: dict = None

    @property
    def session_steps(self) -> int:
        """Training steps this session will take."""
        return ((self.config.epochs - self.first_epoch) * self.data.steps_per_epoch
                - self.state.batches_done)


def start(config, logdir, data, data_dir, resume, strategy, log, extra_hparams) -> Session:
    """Everything before the first step (see the module docstring); arguments as
    ``loop.train_and_evaluate``'s."""
    wall_start = time.perf_counter()
    # Absolute, so that a resume and evaluate.py find it from the logdir, from any directory.
    config = config.validate().replace(checkpoint_dir=run_lib.absolute(config.checkpoint_dir))
    dirs = run_lib.RunDirs(config, logdir, strategy)
    if dirs.chief and (finished := run_lib.check_run(logdir, config, resume, lock=False)):
        log(f"{logdir} is a finished run of {config.epochs} epochs: nothing to train, its "
            "record is left as it is (pass more epochs to train it further)")
        return Session(config, finished=finished)
    data = RunData(config, data if data is not None else sources.load(data_dir), strategy)
    run_lib.make_dirs(dirs)
    if dirs.chief:
        run_lib.remove_leftovers(dirs, log)
    state = TrainState(config, dirs.own_checkpoint_dir, strategy, data.steps_per_epoch,
                       started=wall_start)
    first_epoch = state.restore_or_start(resume, dirs.checkpoint_dir, log)
    if dirs.chief and resume:  # before the writers open their new files
        event_purge.purge_replayed_events(
            dirs.logdir, event_purge.replay_cut(dirs.logdir, state.saved_at), log)
    config_lib.save(config, os.path.join(dirs.logdir, run_lib.CONFIG_FILE))
    writers = summaries.make_writers(dirs.logdir)
    if state.step == 0:
        summaries.hparams(dirs.logdir, {**config.to_dict(), **(extra_hparams or {})},
                          trial_id=dirs.trial_id)
    return Session(config, dirs, data, state, writers, first_epoch)


def finish(session: Session, strategy, export_fn, log) -> dict:
    """Everything after the last step: the test set, the SavedModel (when the config asks
    for one and ``export_fn`` is given), metrics.json; returns the metrics."""
    config, state, writers = session.config, session.state, session.writers
    test = evaluate(state.eval_step, session.data.test_batches())
    summaries.epoch_scalars(writers["test"], config.epochs, test.loss, test.accuracy)
    summaries.test_images(writers["test"], config.epochs, *session.data.test, test)
    log(f"test loss {test.loss:.4f}  test accuracy {test.accuracy:.4f}")
    if config.export and export_fn is not None:
        export_fn(state.model, os.path.join(session.dirs.logdir, "export"))
    metrics = report.write_metrics(
        os.path.join(session.dirs.logdir, report.METRICS_FILE), test, state.epoch_metrics.as_dict(),
        epochs=config.epochs, epochs_run=config.epochs - session.first_epoch, steps=state.step,
        wall_seconds=state.wall_seconds(), train_images_per_second=state.images_per_second(),
        replicas=strategy.num_replicas_in_sync)
    for writer in writers.values():
        writer.close()
    if not session.dirs.chief:
        shutil.rmtree(session.dirs.logdir, ignore_errors=True)
    return metrics
