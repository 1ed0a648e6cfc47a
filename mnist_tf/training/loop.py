"""The training loop: what ``model.fit`` + ``model.evaluate`` do, by hand.

    for epoch in epochs:
        for each group of steps_per_loop batches (x, y) of the epoch:   # shuffled, batched
            train_steps(x, y)                         # forward, loss, gradients, Adam: step.py
            a histogram step?  weights and gradients → TensorBoard
            a log step?        read the running sums → progress line, step/* scalars
            a checkpoint step? save (a killed run resumes from the batch after it)
        evaluate(validation) → epoch summaries → checkpoint
    evaluate(test) → metrics.json, SavedModel

Everything comes in as plain arguments: a :class:`~mnist_tf.training.config.TrainConfig`,
directories, and optionally the data arrays and a ``tf.distribute`` strategy. What
surrounds the loop — the logdir and its lock, the resume check, checkpoints,
metrics.json — is the run's machinery (``mnist_tf.runs.run.Run``), which a first
reader can skip.
"""

import math
import time

import tensorflow as tf

from mnist_tf import models
from mnist_tf.runs.run import Run
from mnist_tf.training import summaries
from mnist_tf.training.evaluation import evaluate
from mnist_tf.training.profiler import ProfilerWindow
from mnist_tf.training.progress import Progress
from mnist_tf.training.state import DivergedError
from mnist_tf.training.step import TRAIN_STEPS, make_train_loop
from mnist_tf.training.step_metrics import means


def train_and_evaluate(config, logdir: str, data=None, data_dir: str = None,
                       resume: bool = False, strategy=None, log=print, export_fn=None,
                       extra_hparams=None) -> dict:
    """Trains ``config.model`` on MNIST, writing TensorBoard logs, checkpoints and metrics.

    Args:
      config: the run's hyperparameters (validated here).
      logdir: where the TensorBoard runs, ``config.json`` and ``metrics.json`` go.
      data: an ``MnistArrays`` to train on; None loads MNIST through the source chain.
      data_dir: passed to the source chain when ``data`` is None.
      resume: continue from the newest checkpoint in the run's checkpoint directory.
      strategy: a ``tf.distribute.Strategy``; None trains on the current device.
      log: where progress messages go (``print`` by default).
      export_fn: ``export_fn(model, directory)`` writes a SavedModel at the end
        (into ``<logdir>/export``) when ``config.export`` is set.
      extra_hparams: settings outside the config for the HParams dashboard.

    Returns:
      The final metrics, as written to ``<logdir>/metrics.json`` (a finished run's,
      untouched, when resuming leaves nothing to train).
    """
    with Run(config, logdir, resume, strategy, log) as run:
        if run.finished is not None:
            log(f"{logdir} is a finished run of {run.config.epochs} epochs: nothing to train, "
                "its record is left as it is (pass more epochs to train it further)")
            return run.finished
        run.start(data, data_dir, extra_hparams)
        return train(run, export_fn)


def train(run, export_fn=None) -> dict:
    """Trains a started :class:`~mnist_tf.runs.run.Run` to its last epoch; returns metrics."""
    config, state, writers = run.config, run.state, run.writers
    train_steps = make_train_loop(state.model, state.optimizer, run.strategy,
                                  config.jit_compile, state.step_metrics,
                                  TRAIN_STEPS[config.gradients], config.label_smoothing)
    run.log(f"training {config.model}: {models.count_params(state.model):,} parameters, "
            f"{run.data.sizes()}, {run.data.steps_per_epoch} steps per epoch")
    if state.step == 0:
        summaries.input_images(writers["train"], 0, run.data.first_images(state.seed))
    profiler = ProfilerWindow(config.profile, run.dirs.logdir, state.step, run.session_steps)
    for epoch in range(run.first_epoch, config.epochs):
        progress = Progress(epoch + 1, config.epochs, run.data.steps_per_epoch)
        train_epoch(run, train_steps, epoch, progress, profiler)
        validation = evaluate(state.eval_step, run.data.validation_batches())
        progress.finish(validation)
        summaries.epoch_end(writers, epoch + 1, run.data.steps_per_epoch, progress,
                            validation, state.model.trainable_variables[0])
        state.epoch_metrics.record(train_loss=progress.loss, train_accuracy=progress.accuracy,
                                   validation_loss=validation.loss,
                                   validation_accuracy=validation.accuracy)
        run.save(epoch + 1)
    profiler.stop()
    return run.finish(export_fn)


def train_epoch(run, train_steps, epoch: int, progress, profiler) -> None:
    """One epoch, in calls of up to ``steps_per_loop`` steps (from a mid-epoch checkpoint's
    batch on, when resuming). The loss and counts stay on the device until a log step."""
    config, state, writer = run.config, run.state, run.writers["train"]
    if not state.batches_done:
        state.step_metrics.reset()
    step, done = state.step, state.batches_done
    batches = iter(run.data.train_epoch(state.seed, epoch, done))
    progress.resumed(done, float(state.step_metrics.epoch.numpy()[2]))  # 0, 0 at an epoch start
    window = {"start": time.perf_counter(), "images": 0.0}
    if step == 0:
        summaries.step_graph(writer, train_steps.get_concrete_function(batches, tf.constant(1)))
    while done < progress.total:
        n = steps_in_call(config, step, progress.total - done)
        profiler.before_steps(step)
        gradients = train_steps(batches, tf.constant(n))
        profiler.after_steps(step + n - 1)
        step, done = step + n, done + n
        if due(config.histogram_every, step, n) or (not config.histogram_every
                                                    and done == progress.total):
            summaries.histograms(writer, step, state.model.trainable_variables, gradients)
        if due(config.log_every, step, n) or done == progress.total:
            read_sums(state, step, done, progress,
                      writer if due(config.log_every, step, n) else None, window)
        if due(config.checkpoint_every_steps, step, n) and done < progress.total:
            run.save(state.epochs_done, batches_done=done)
    state.add_training(progress.seconds, progress.session_images)


def steps_in_call(config, step: int, left: int) -> int:
    """Steps for the next call: up to ``steps_per_loop``, ending at the next log, histogram
    or checkpoint step, so that every figure is the one a one-step loop would give."""
    n = min(config.steps_per_loop, left)
    for every in (config.log_every, config.histogram_every, config.checkpoint_every_steps):
        if every:
            n = min(n, every - step % every)
    return n


def due(every: int, step: int, n: int) -> bool:
    """Whether the last ``n`` steps, ending at ``step``, reached a multiple of ``every``."""
    return bool(every) and step // every > (step - n) // every


def read_sums(state, step: int, batches: int, progress, writer, window) -> None:
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
