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
a module of their own: what happens before the first step and after the last
(``session``: the run's directory and resume policy in ``run``, what it trains
and checkpoints in ``state``, its data in ``datasets``, the final report in
``report``), the step (``steps``), TensorBoard (``summaries``) and the profiler
window (``profiler``).
"""

import functools
import math
import time

import tensorflow as tf

from mnist_tf import distribute, models
from mnist_tf.runs import disk_full, interrupts
from mnist_tf.training import session, summaries
from mnist_tf.training.lock import LogdirLock
from mnist_tf.training.evaluation import evaluate
from mnist_tf.training.profiler import ProfilerWindow
from mnist_tf.training.progress import Progress
from mnist_tf.training.run import checkpoint_dir
from mnist_tf.training.state import DivergedError
from mnist_tf.training.step_metrics import means
from mnist_tf.training.steps import GRADIENTS, make_train_loop, make_train_step


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
      The final metrics, as written to ``<logdir>/metrics.json`` (a finished run's, untouched,
      when resuming it leaves nothing to train).
    """
    strategy = strategy or tf.distribute.get_strategy()
    chief = distribute.is_chief(strategy)
    # The run owns its logdir from before its first check to its end (the chief's lock); a
    # full disk is one line, with nothing half-written left.
    with LogdirLock(logdir if chief else None), \
            disk_full.run_writes(logdir, checkpoint_dir(config, logdir), chief):
        return _train_and_evaluate(config, logdir, data, data_dir, resume, strategy, log,
                                   export_fn, extra_hparams)


def _train_and_evaluate(config, logdir, data, data_dir, resume, strategy, log, export_fn,
                        extra_hparams) -> dict:
    run = session.start(config, logdir, data, data_dir, resume, strategy, log, extra_hparams)
    if run.finished is not None:
        return run.finished
    config, state, writers = run.config, run.state, run.writers
    steps = _make_steps(config, state, strategy, run.data)
    log(f"training {config.model}: {models.count_params(state.model):,} parameters, "
        f"{run.data.sizes()}, {run.data.steps_per_epoch} steps per epoch")
    profiler = ProfilerWindow(config.profile, run.dirs.logdir, state.step, run.session_steps)
    for epoch in range(run.first_epoch, config.epochs):
        progress = Progress(epoch + 1, config.epochs, run.data.steps_per_epoch)
        _train_epoch(config, state, steps,
                     run.data.train_epoch(state.seed, epoch, state.batches_done), progress,
                     writers["train"], profiler)
        validation = evaluate(state.eval_step, run.data.validation_batches())
        progress.finish(validation)
        summaries.epoch_scalars(writers["train"], epoch + 1, progress.loss, progress.accuracy)
        if validation.count:
            summaries.epoch_scalars(writers["validation"], epoch + 1, validation.loss,
                                    validation.accuracy)
        summaries.first_filters(writers["train"], (epoch + 1) * run.data.steps_per_epoch,
                                state.model.trainable_variables[0].numpy())
        state.epoch_metrics.record(train_loss=progress.loss, train_accuracy=progress.accuracy,
                                   validation_loss=validation.loss,
                                   validation_accuracy=validation.accuracy)
        state.save(epoch + 1)
        interrupts.stop_if_signalled(state, run.data.steps_per_epoch, writers["train"])
    profiler.stop()
    return session.finish(run, strategy, export_fn, log)


def _make_steps(config, state, strategy, data) -> dict:
    """The run's step functions: ``single`` and ``with_gradients`` (one step; the second also
    returns the applied gradients, for histograms) and ``loop`` (n steps per call)."""
    args = dict(model=state.model, optimizer=state.optimizer, strategy=strategy,
                jit_compile=config.jit_compile, step_metrics=state.step_metrics,
                gradients_fn=functools.partial(GRADIENTS[config.gradients],
                                               label_smoothing=config.label_smoothing))
    signature = data.element_spec() if data.distributed else None
    return {"single": make_train_step(**args, input_signature=signature),
            "with_gradients": make_train_step(**args, input_signature=signature,
                                              return_gradients=True),
            "loop": make_train_loop(**args)}


def _train_epoch(config, state, steps, dataset, progress, writer, profiler) -> None:
    """One epoch of training steps, in calls of one step or of up to ``steps_per_loop``. The
    step keeps its loss and counts on the device; they are read back every ``log_every``
    steps and at the end (one transfer each time). A checkpoint every
    ``checkpoint_every_steps`` lets a killed run resume from the batch after it: ``dataset``
    starts there, and the epoch's running sums come back from the checkpoint."""
    if not state.batches_done:
        state.step_metrics.reset()
    step, done, batches = state.step, state.batches_done, iter(dataset)
    progress.resumed(done, float(state.step_metrics.epoch.numpy()[2]))  # 0, 0 at an epoch start
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
        every = config.checkpoint_every_steps
        if every and step // every > (step - n) // every and done < progress.total:
            state.save(state.epochs_done, batches_done=done)
        if done < progress.total:
            interrupts.stop_if_signalled(state, done, writer)
    _read_sums(config, state, step, progress.total, progress, None, window)
    state.add_training(progress.seconds, progress.session_images)


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
    state.check_finite(step)
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
