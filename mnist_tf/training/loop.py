"""The training loop: what ``model.compile`` + ``model.fit`` + ``model.evaluate`` do, by hand.

    for epoch in epochs:
        for (x, y) in train_dataset(seed, epoch):     # shuffled, batched, prefetched
            train_step(x, y)                           # forward, loss, gradients, Adam
            every log_every steps: read the running sums → progress line, scalars
        evaluate(validation) → epoch summaries → checkpoint
    evaluate(test) → metrics.json, SavedModel

Everything the loop needs comes in as plain arguments: a frozen
:class:`~mnist_tf.training.config.TrainConfig`, directories, and optionally
the data arrays and a ``tf.distribute`` strategy (tests inject small data and a
strategy this way). Nothing here reads flags. The pieces it calls each live in
a module of their own: the run's directory and resume policy (``run``), what it
trains and checkpoints (``state``), its data (``datasets``), the step
(``steps``), TensorBoard (``summaries``), the profiler window (``profiler``)
and the final report (``report``).
"""

import math
import os
import shutil
import time

import tensorflow as tf

from mnist_tf import models
from mnist_tf.data import sources
from mnist_tf.training import config as config_lib, report, run as run_lib, summaries
from mnist_tf.training.datasets import RunData
from mnist_tf.training.evaluation import evaluate
from mnist_tf.training.profiler import ProfilerWindow
from mnist_tf.training.progress import Progress
from mnist_tf.training.state import DivergedError, TrainState
from mnist_tf.training.step_metrics import means
from mnist_tf.training.steps import make_train_loop, make_train_step


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
    wall_start = time.perf_counter()
    strategy = strategy or tf.distribute.get_strategy()
    # Absolute, so that a resume and evaluate.py find it from the logdir, from any directory.
    config = config.validate().replace(checkpoint_dir=run_lib.absolute(config.checkpoint_dir))
    dirs = run_lib.RunDirs(config, logdir, strategy)
    if dirs.chief:
        run_lib.refuse_a_second_run(logdir, resume)
    data = RunData(config, data if data is not None else sources.load(data_dir), strategy)
    run_lib.make_dirs(dirs)
    state = TrainState(config, dirs.own_checkpoint_dir, strategy)
    first_epoch = state.restore_or_start(resume, dirs.checkpoint_dir, log)
    config_lib.save(config, os.path.join(dirs.logdir, run_lib.CONFIG_FILE))
    writers = summaries.make_writers(dirs.logdir)
    if first_epoch == 0:
        summaries.hparams(dirs.logdir, {**config.to_dict(), **(extra_hparams or {})},
                          trial_id=dirs.trial_id)
    steps = _make_steps(config, state, strategy, data)
    log(f"training {config.model}: {models.count_params(state.model):,} parameters, "
        f"{data.sizes()}, {data.steps_per_epoch} steps per epoch")

    session_steps = (config.epochs - first_epoch) * data.steps_per_epoch
    profiler = ProfilerWindow(config.profile, dirs.logdir, state.step, session_steps)
    train_seconds, train_images = 0.0, 0
    for epoch in range(first_epoch, config.epochs):
        progress = Progress(epoch + 1, config.epochs, data.steps_per_epoch)
        _train_epoch(config, state, steps, data.train_epoch(state.seed, epoch), progress,
                     writers["train"], profiler)
        train_seconds, train_images = train_seconds + progress.seconds, train_images + progress.images
        validation = evaluate(state.eval_step, data.validation_batches())
        progress.finish(validation)
        summaries.epoch_scalars(writers["train"], epoch + 1, progress.loss, progress.accuracy)
        if validation.count:
            summaries.epoch_scalars(writers["validation"], epoch + 1, validation.loss,
                                    validation.accuracy)
        summaries.first_filters(writers["train"], state.step,
                                state.model.trainable_variables[0].numpy())
        state.epoch_metrics.record(train_loss=progress.loss, train_accuracy=progress.accuracy,
                                   validation_loss=validation.loss,
                                   validation_accuracy=validation.accuracy)
        state.save(epoch + 1)
    profiler.stop()

    test = evaluate(state.eval_step, data.test_batches())
    summaries.epoch_scalars(writers["test"], config.epochs, test.loss, test.accuracy)
    summaries.test_images(writers["test"], config.epochs, *data.test, test)
    log(f"test loss {test.loss:.4f}  test accuracy {test.accuracy:.4f}")
    if config.export and export_fn is not None:
        export_fn(state.model, os.path.join(dirs.logdir, "export"))
    metrics = report.write_metrics(
        os.path.join(dirs.logdir, "metrics.json"), test, state.epoch_metrics.as_dict(),
        epochs=config.epochs, epochs_run=config.epochs - first_epoch, steps=state.step,
        wall_seconds=time.perf_counter() - wall_start,
        train_images_per_second=train_images / train_seconds if train_seconds else None,
        replicas=strategy.num_replicas_in_sync)
    for writer in writers.values():
        writer.close()
    if not dirs.chief:
        shutil.rmtree(dirs.logdir, ignore_errors=True)
    return metrics


def _make_steps(config, state, strategy, data) -> dict:
    """The run's step functions: ``single`` and ``with_gradients`` (one step; the second also
    returns the applied gradients, for histograms) and ``loop`` (n steps per call)."""
    args = dict(model=state.model, optimizer=state.optimizer, strategy=strategy,
                jit_compile=config.jit_compile, step_metrics=state.step_metrics)
    signature = data.element_spec() if data.distributed else None
    return {"single": make_train_step(**args, input_signature=signature),
            "with_gradients": make_train_step(**args, input_signature=signature,
                                              return_gradients=True),
            "loop": make_train_loop(**args)}


def _train_epoch(config, state, steps, dataset, progress, writer, profiler) -> None:
    """One epoch of training steps, in calls of one step or of up to ``steps_per_loop``. The
    step keeps its loss and counts on the device; they are read back every ``log_every``
    steps and at the end (one transfer each time)."""
    state.step_metrics.reset()
    step, done, batches = state.step, 0, iter(dataset)
    window = {"start": time.perf_counter(), "images": 0.0}
    while done < progress.total:
        histogram_due = ((step + 1) % config.histogram_every == 0 if config.histogram_every
                         else done + 1 == progress.total)  # 0: the epoch's last step
        n = 1 if step == 0 or histogram_due else _group_size(config, step, progress.total - done)
        profiler.before_steps(step)
        if step == 0:
            images, labels = next(batches)
            summaries.input_images(writer, 0, _local(images))
            out = summaries.trace_graph(writer, steps["with_gradients" if histogram_due
                                                      else "single"], images, labels)
        elif histogram_due:
            out = steps["with_gradients"](*next(batches))
        elif n == 1:
            steps["single"](*next(batches))
        else:
            steps["loop"](batches, tf.constant(n))
        profiler.after_steps(step + n - 1)
        step, done = step + n, done + n
        if histogram_due:
            summaries.histograms(writer, step, state.model.trainable_variables,
                                 out["gradients"])
        if step % config.log_every == 0:
            _read_sums(config, state, step, done, progress, writer, window)
    _read_sums(config, state, step, progress.total, progress, None, window)


def _group_size(config, step, left) -> int:
    """Steps for the next call: up to ``steps_per_loop``, ending at the next log point and
    before the next histogram step, so that every figure read is what a one-step loop reads."""
    n = min(config.steps_per_loop, left, config.log_every - step % config.log_every)
    if config.histogram_every:
        n = min(n, max(1, config.histogram_every - 1 - step % config.histogram_every))
    elif left > 1:
        n = min(n, left - 1)  # the epoch's last step runs alone: it returns the gradients
    return max(n, 1)


def _read_sums(config, state, step, batches, progress, writer, window) -> None:
    """Reads the running sums (one transfer): the progress line, the divergence check and,
    with a ``writer``, the ``step/*`` scalars (means over the steps since the last read)."""
    epoch_sums, window_sums = state.step_metrics.read_and_reset_window().numpy()
    loss, accuracy, count = means(window_sums)
    if count and not math.isfinite(loss):
        raise DivergedError(f"the training loss is {loss} by step {step}: the run diverged; "
                            "try a smaller learning rate")
    progress.update(batches, *epoch_sums[[2, 0, 1]])  # images, Σ loss, Σ correct
    window["images"] += count
    if writer is not None:
        now = time.perf_counter()
        summaries.step_scalars(writer, step, loss, accuracy,
                               float(state.optimizer.current_learning_rate()),
                               window["images"] / max(now - window["start"], 1e-9))
        window.update(start=now, images=0.0)


def _local(values):
    """The tensor itself, or the first replica's part of a distributed value."""
    return values if isinstance(values, tf.Tensor) else values.values[0]
