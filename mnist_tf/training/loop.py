"""The training loop: what ``model.compile`` + ``model.fit`` + ``model.evaluate`` do, by hand.

    for epoch in epochs:
        for (x, y) in train_dataset(seed, epoch):     # shuffled, batched, prefetched
            train_step(x, y)                           # forward, loss, gradients, Adam
        evaluate(validation) → epoch summaries → checkpoint
    evaluate(test) → metrics.json, SavedModel

Everything the loop needs comes in as plain arguments: a frozen
:class:`~mnist_tf.training.config.TrainConfig`, directories, and optionally
the data arrays and a ``tf.distribute`` strategy (tests inject small data and a
strategy this way). Nothing here reads flags.
"""

import datetime
import json
import math
import os
import resource
import shutil
import time

import numpy as np
import tensorflow as tf

from mnist_tf import distribute, models, optimizers
from mnist_tf.data import pipeline, sources
from mnist_tf.errors import CheckpointError, ConfigError
from mnist_tf.training import checkpoints, config as config_lib, summaries
from mnist_tf.training.evaluation import evaluate
from mnist_tf.training.progress import Progress
from mnist_tf.training.steps import make_eval_step, make_gradient_fn, make_train_step

PROFILE_WARMUP, PROFILE_STEPS = 10, 10  # --profile: skip 10 steps of the session, trace 10


def default_logdir(root: str = "logs") -> str:
    """``logs/20261126-184502``: one directory per run, sortable by start time."""
    return os.path.join(root, datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))


def make_optimizer(config):
    """The optimizer the config names, with Keras's defaults for everything else."""
    if config.optimizer == "adam":
        return optimizers.Adam(learning_rate=config.learning_rate)
    if config.optimizer == "momentum":
        return optimizers.SGD(learning_rate=config.learning_rate, momentum=config.momentum)
    return optimizers.SGD(learning_rate=config.learning_rate)


def _datasets(config, data):
    """Splits the arrays: ((x_train, y_train), (x_val, y_val), (x_test, y_test))."""
    try:
        train, validation = pipeline.split_validation(data.x_train, data.y_train,
                                                      config.validation_split)
    except ValueError as e:
        raise ConfigError(f"--validation_split: {e}") from e
    return train, validation, (data.x_test, data.y_test)


class _Run:
    """The objects one run trains: model, optimizer, run state, steps, checkpoints."""

    def __init__(self, config, checkpoint_dir, strategy):
        self.strategy = strategy
        # A real tf.distribute strategy (not the default one) gets distributed datasets.
        self.distributed = strategy is not tf.distribute.get_strategy()
        with strategy.scope():
            self.model = models.get(config.model, seed=config.seed)
            models.build(self.model)
            self.optimizer = make_optimizer(config)
            self.optimizer.build(self.model.trainable_variables)
            self.state = checkpoints.RunState(config.seed)
            self.metrics = checkpoints.EpochMetrics()
        self.manager = checkpoints.make_manager(checkpoint_dir, self.model, self.optimizer,
                                                self.state, self.metrics, config.keep_checkpoints)
        self.eval_step = make_eval_step(self.model)
        self.gradients = make_gradient_fn(self.model)

    def restore_or_start(self, resume: bool, directory: str, log) -> int:
        """Restores the newest checkpoint in ``directory`` when resuming; returns the first epoch.

        ``directory`` is the chief's checkpoint directory: every worker of a
        multi-worker run restores from it, whatever directory it saves into.
        """
        latest = tf.train.latest_checkpoint(directory) if tf.io.gfile.isdir(directory) else None
        if latest and not resume:
            raise CheckpointError(f"{directory} already holds checkpoints: pass "
                                  "--resume to continue that run, or choose a new --logdir")
        if resume and not latest:
            raise CheckpointError(f"--resume: no checkpoint in {directory}")
        if latest:
            checkpoints.restore_run(latest, self.model, self.optimizer, self.state, self.metrics)
            log(f"resumed from {latest}: {int(self.state.epoch.numpy())} epochs done, "
                f"step {int(self.optimizer.iterations.numpy())}")
        return int(self.state.epoch.numpy())


def _dataset_for_epoch(config, run, x, y, epoch):
    dataset = pipeline.train_dataset(x, y, config.batch_size, seed=int(run.state.seed.numpy()),
                                     epoch=epoch)
    if config.steps_per_epoch:
        dataset = dataset.take(config.steps_per_epoch)
    return dataset


def _steps_in_epoch(config, n: int) -> int:
    steps = pipeline.steps_per_epoch(n, config.batch_size)
    return min(steps, config.steps_per_epoch) if config.steps_per_epoch else steps


def train_and_evaluate(config, logdir: str, data=None, data_dir: str = None,
                       resume: bool = False, strategy=None, log=print, export_fn=None,
                       extra_hparams=None) -> dict:
    """Trains ``config.model`` on MNIST, writing TensorBoard logs, checkpoints and metrics.

    Args:
      config: the run's hyperparameters (validated here).
      logdir: where the TensorBoard runs, ``config.json`` and ``metrics.json`` go.
      data: an ``MnistArrays`` to train on; None loads MNIST through the source chain.
      data_dir: passed to the source chain when ``data`` is None.
      resume: continue from the newest checkpoint in the run's checkpoint directory
        (``config.checkpoint_dir``, else ``<logdir>/checkpoints``).
      strategy: a ``tf.distribute.Strategy``; None trains on the current device.
      log: where progress messages go (``print`` by default).
      export_fn: ``export_fn(model, directory)`` writes a SavedModel at the end
        (into ``<logdir>/export``) when ``config.export`` is set.
      extra_hparams: settings outside the config to show in the HParams
        dashboard beside it (``bin/train.py`` passes the device and strategy).

    Returns:
      The final metrics, as written to ``<logdir>/metrics.json``.
    """
    config.validate()
    wall_start = time.perf_counter()
    strategy = strategy or tf.distribute.get_strategy()
    # A checkpoint directory set in the config is recorded in config.json (absolute, so that
    # --resume and evaluate.py find it from the logdir, from any working directory).
    config = config.replace(checkpoint_dir=_absolute(config.checkpoint_dir))
    checkpoint_dir = config.checkpoint_dir or os.path.join(logdir, "checkpoints")
    # Only the chief keeps what it writes; other workers write to a temporary directory.
    chief = distribute.is_chief(strategy)
    if chief and not resume and os.path.isfile(os.path.join(logdir, "config.json")):
        raise CheckpointError(f"{logdir} already holds a run: pass --resume to continue it, "
                              "or choose a new --logdir")
    data = data if data is not None else sources.load(data_dir)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = _datasets(config, data)

    chief_logdir, logdir = logdir, distribute.write_dir(logdir, strategy)
    own_checkpoint_dir = checkpoint_dir if chief else os.path.join(logdir, "checkpoints")
    for directory in (logdir, own_checkpoint_dir):  # an unwritable path fails before training
        tf.io.gfile.makedirs(directory)

    run = _Run(config, own_checkpoint_dir, strategy)
    first_epoch = run.restore_or_start(resume, checkpoint_dir, log)
    config_lib.save(config, os.path.join(logdir, "config.json"))
    writers = summaries.make_writers(logdir)
    if first_epoch == 0:
        summaries.hparams(tf.summary.create_file_writer(logdir),
                          {**config.to_dict(), **(extra_hparams or {})},
                          trial_id=os.path.basename(os.path.normpath(chief_logdir)))

    train_step = _make_distributed_step(config, run, x_train, y_train)
    steps_per_epoch = _steps_in_epoch(config, len(x_train))
    log(f"training {config.model}: {models.count_params(run.model):,} parameters, "
        f"{len(x_train):,} training / {len(x_val):,} validation / {len(x_test):,} test images, "
        f"{steps_per_epoch} steps per epoch")

    first_step = int(run.optimizer.iterations.numpy())
    profiler = _Profiler(config.profile, logdir, first_step,
                         session_steps=(config.epochs - first_epoch) * steps_per_epoch)
    train_seconds, train_images = 0.0, 0
    for epoch in range(first_epoch, config.epochs):
        progress = Progress(epoch + 1, config.epochs, steps_per_epoch)
        last_batch = _train_one_epoch(config, run, train_step, progress, writers["train"],
                                      profiler, _dataset_for_epoch(config, run, x_train,
                                                                   y_train, epoch))
        train_seconds += progress.seconds
        train_images += progress.images
        validation = evaluate(run.eval_step, pipeline.eval_dataset(x_val, y_val, config.batch_size))
        progress.finish(validation)
        _end_of_epoch_summaries(config, run, writers, epoch + 1, progress, validation,
                                last_batch)
        run.state.epoch.assign(epoch + 1)
        run.metrics.record(train_loss=progress.loss, train_accuracy=progress.accuracy,
                           validation_loss=validation.loss,
                           validation_accuracy=validation.accuracy)
        run.manager.save(checkpoint_number=epoch + 1)

    profiler.stop()
    test = evaluate(run.eval_step, pipeline.eval_dataset(x_test, y_test, config.batch_size))
    summaries.epoch_scalars(writers["test"], config.epochs, test.loss, test.accuracy)
    summaries.test_images(writers["test"], config.epochs, pipeline.to_float(x_test).numpy(),
                          np.asarray(y_test), test)
    log(f"test loss {test.loss:.4f}  test accuracy {test.accuracy:.4f}")
    if config.export and export_fn is not None:
        export_fn(run.model, os.path.join(logdir, "export"))

    metrics = {
        "test_accuracy": test.accuracy,
        "test": {"loss": test.loss, "accuracy": test.accuracy},
        **run.metrics.as_dict(),  # the last epoch's, also when it ran before a --resume
        "epochs": config.epochs,
        "epochs_run_this_session": config.epochs - first_epoch,
        "steps": int(run.optimizer.iterations.numpy()),
        "wall_seconds": time.perf_counter() - wall_start,
        "train_images_per_second": train_images / train_seconds if train_seconds else None,
        "replicas": strategy.num_replicas_in_sync,
        # Peak resident memory of this process so far (Linux reports KiB).
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    metrics = _json_numbers(metrics)
    with open(os.path.join(logdir, "metrics.json.tmp"), "w") as f:
        json.dump(metrics, f, indent=2, allow_nan=False)
    os.replace(os.path.join(logdir, "metrics.json.tmp"), os.path.join(logdir, "metrics.json"))
    for writer in writers.values():
        writer.close()
    if not chief:
        shutil.rmtree(logdir, ignore_errors=True)
    return metrics


def _absolute(path):
    """A local path made absolute; None and URLs (``gs://...``) as they are."""
    return path if path is None or "://" in path else os.path.abspath(path)


def _json_numbers(value):
    """``value`` with every NaN or infinity (no validation split; a diverged run) as None:
    strict JSON has no NaN, and ``null`` is what every JSON reader understands."""
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _distribute(run, dataset):
    """Splits each global batch across the replicas (and workers) of a strategy."""
    if not run.distributed:
        return dataset
    options = tf.data.Options()
    # The data is in memory, not in files: shard by element, each worker its part of a batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return run.strategy.experimental_distribute_dataset(dataset.with_options(options))


def _make_distributed_step(config, run, x_train, y_train):
    """The training step, with the distributed input signature when there is one."""
    if not run.distributed:
        return make_train_step(run.model, run.optimizer, jit_compile=config.jit_compile)
    sample = _distribute(run, _dataset_for_epoch(config, run, x_train, y_train, 0))
    return make_train_step(run.model, run.optimizer, run.strategy, config.jit_compile,
                           input_signature=sample.element_spec)


class _Profiler:
    """Traces up to ``PROFILE_STEPS`` steps of this session into ``<logdir>/plugins/profile``.

    The trace starts after up to ``PROFILE_WARMUP`` steps (tracing and warm-up are
    not what a profile should show), counted from the session's first step so a
    resumed run is profiled too; a session shorter than that is profiled from the
    middle, and a one-step session in full.
    """

    def __init__(self, enabled: bool, logdir: str, first_step: int, session_steps: int):
        warmup = min(PROFILE_WARMUP, session_steps // 2)
        self.start = first_step + warmup
        self.end = self.start + min(PROFILE_STEPS, session_steps - warmup)
        self.enabled = enabled and session_steps > 0
        self.logdir, self.active = logdir, False

    def before_step(self, step: int) -> None:
        if self.enabled and not self.active and step == self.start:
            tf.profiler.experimental.start(self.logdir)
            self.active = True

    def after_step(self, step: int) -> None:
        if self.active and step + 1 >= self.end:
            self.stop()

    def stop(self) -> None:
        if self.active:
            tf.profiler.experimental.stop()
            self.active = False


def _local(values):
    """The tensor itself, or the first replica's part of a distributed value."""
    return values if isinstance(values, tf.Tensor) else values.values[0]


def _train_one_epoch(config, run, train_step, progress, writer, profiler, dataset):
    """Runs one epoch's training steps, writing per-step summaries; returns the last batch."""
    dataset = _distribute(run, dataset)
    optimizer = run.optimizer
    window_start, window_images = time.perf_counter(), 0
    images = labels = None
    for images, labels in dataset:
        step = int(optimizer.iterations.numpy())
        profiler.before_step(step)
        if step == 0:
            summaries.input_images(writer, 0, _local(images))
            out = summaries.trace_graph(writer, train_step, images, labels)
        else:
            out = train_step(images, labels)
        # The global batch: under MultiWorkerMirroredStrategy, `labels` holds this worker's part.
        loss, correct, count = float(out["loss"]), float(out["correct"]), int(out["count"])
        profiler.after_step(step)
        progress.update(count, loss, correct)
        window_images += count
        step += 1
        if step % config.log_every == 0:
            now = time.perf_counter()
            summaries.step_scalars(writer, step, loss, correct / count,
                                   float(optimizer.current_learning_rate().numpy()),
                                   window_images / max(now - window_start, 1e-9))
            window_start, window_images = now, 0
        if config.histogram_every and step % config.histogram_every == 0:
            _histograms(writer, step, run, images, labels)
    return images, labels


def _histograms(writer, step, run, images, labels):
    summaries.histograms(writer, step, run.model.trainable_variables,
                         run.gradients(_local(images), _local(labels)))


def _end_of_epoch_summaries(config, run, writers, epoch, progress, validation, last_batch):
    summaries.epoch_scalars(writers["train"], epoch, progress.loss, progress.accuracy)
    if validation.count:
        summaries.epoch_scalars(writers["validation"], epoch, validation.loss,
                                validation.accuracy)
    step = int(run.optimizer.iterations.numpy())
    if not config.histogram_every and last_batch[0] is not None:
        _histograms(writers["train"], step, run, *last_batch)
    summaries.first_filters(writers["train"], step, run.model.trainable_variables[0].numpy())
    writers["train"].flush()
