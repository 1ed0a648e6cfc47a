"""Everything one run trains and checkpoints, built under the strategy's scope (Flax's ``TrainState``).

    model          the network (``mnist_tf.models``) under the config's precision
                   policy (``mnist_tf.precision``), its variables created here
    optimizer      ``mnist_tf.optimizers.get(config.optimizer)``, slots built here;
                   wrapped in a ``LossScaleOptimizer`` for mixed_float16
    progress       epochs done and the seed (``checkpoints.RunState``)
    epoch_metrics  the last epoch's figures (``checkpoints.EpochMetrics``)
    step_metrics   the running sums of the current epoch (``step_metrics.StepMetrics``)
    totals         batches done in the current epoch, time and images over all sessions
                   (``checkpoints.RunTotals``)

All of it is in every checkpoint, so a resumed run carries on where it stopped,
mid-epoch included. Checkpoints are found from their files and the newest
intact one is restored (``checkpoint_repair.newest_intact``).
"""

import math
import time

import tensorflow as tf

from mnist_tf import models, optimizers, precision
from mnist_tf.errors import CheckpointError, MnistTfError, SettingError
from mnist_tf.training import checkpoint_repair, checkpoints
from mnist_tf.training.step_metrics import StepMetrics
from mnist_tf.training.steps import make_eval_step


class DivergedError(MnistTfError):
    """The loss or the weights stopped being finite numbers."""


class TrainState:
    """The run's model, optimizer and progress, and their checkpoint manager.

    Args:
      config: the run's ``TrainConfig``.
      checkpoint_dir: where this process saves its checkpoints.
      strategy: variables are created in its scope (mirrored under MirroredStrategy).
      steps_per_epoch: sets the length of a learning-rate schedule (epochs × this).
      started: ``time.perf_counter()`` when the session started (default: now).
    """

    def __init__(self, config, checkpoint_dir: str, strategy, steps_per_epoch: int,
                 started: float = None):
        with strategy.scope():
            model = precision.set_policy(models.get(config.model, seed=config.seed),
                                         config.precision)
            self.model = models.build(model)
            self.optimizer = optimizers.get(config.optimizer,
                                            _learning_rate(config, steps_per_epoch),
                                            momentum=config.momentum,
                                            weight_decay=config.weight_decay)
            if precision.get(config.precision).needs_loss_scaling:  # float16's small range
                self.optimizer = optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.progress = checkpoints.RunState(config.seed)
            self.epoch_metrics = checkpoints.EpochMetrics()
        self.step_metrics = StepMetrics()  # updated in cross-replica context: not mirrored
        self.totals = checkpoints.RunTotals()
        self.checkpoint_dir, self.keep = checkpoint_dir, config.keep_checkpoints
        self.steps_per_epoch = steps_per_epoch
        self.manager = None  # made once the checkpoint directory is in order (restore_or_start)
        self.eval_step = make_eval_step(self.model)
        self.started = time.perf_counter() if started is None else started
        self.restored, self._number, self._wall_before = None, 0, 0.0

    @property
    def step(self) -> int:
        """Training steps taken by the last checkpoint (or the start): the data position
        ``epochs_done × steps_per_epoch + batches_done``. Not the optimizer's ``iterations``,
        which a float16 step skipped by loss scaling does not advance."""
        return self.epochs_done * self.steps_per_epoch + self.batches_done

    @property
    def epochs_done(self) -> int:
        return int(self.progress.epoch.numpy())

    @property
    def batches_done(self) -> int:
        """Batches of epoch ``epochs_done`` already trained (a mid-epoch checkpoint)."""
        return int(self.totals.batch.numpy())

    @property
    def seed(self) -> int:
        return int(self.progress.seed.numpy())

    def restore_or_start(self, resume: bool, directory: str, log) -> int:
        """Restores the newest intact checkpoint in ``directory`` when resuming; returns the
        first epoch (:attr:`batches_done` of it are done).

        ``directory`` is the chief's checkpoint directory: every worker of a
        multi-worker run restores from it, whatever directory it saves into. A
        damaged newer checkpoint is skipped (said in ``log``); a run with no
        checkpoint yet starts from the beginning. The ``checkpoint`` index file is
        rewritten when it is missing or names another checkpoint.

        Raises:
          CheckpointError: checkpoints exist but ``resume`` is False, or none is intact.
        """
        if checkpoint_repair.checkpoint_files(directory) and not resume:
            raise CheckpointError(f"{directory} already holds checkpoints: resume that run, "
                                  "or choose a new logdir")
        latest = checkpoint_repair.newest_intact(directory, log) if resume else None
        if resume and not latest:
            log(f"no checkpoint in {directory} yet: starting the run from the beginning, "
                "with its saved config")
        if latest:
            checkpoints.restore_run(latest, self.model, self.optimizer, self.progress,
                                    self.epoch_metrics, self.step_metrics, self.totals)
            self.restored, self._number = latest, max(checkpoints.number(latest), 0)
            self._wall_before = self.totals["wall_seconds"]
            if directory == self.checkpoint_dir and tf.train.latest_checkpoint(directory) != latest:
                files = checkpoint_repair.checkpoint_files(directory)
                checkpoint_repair.rewrite_index(directory, files[files.index(latest):])
            log(f"resumed from {latest}: {_count(self.epochs_done, 'epoch', 'epochs')} and "
                f"{_count(self.batches_done, 'batch', 'batches')} done, step {self.step}")
        self.manager = checkpoints.make_manager(self.checkpoint_dir, self.model, self.optimizer,
                                                self.progress, self.epoch_metrics,
                                                self.step_metrics, self.totals, self.keep)
        return self.epochs_done

    @property
    def saved_at(self) -> float:
        """When the restored checkpoint was written (``time.time()``); -inf with none."""
        if self.restored is None:
            return -math.inf
        return self.totals["saved_at"] or \
            tf.io.gfile.stat(self.restored + ".index").mtime_nsec / 1e9

    def add_training(self, seconds: float, images: float) -> None:
        """Counts an epoch's (or part's) training time and images into the run's totals."""
        self.totals.values["train_seconds"].assign_add(seconds)
        self.totals.values["train_images"].assign_add(images)

    def wall_seconds(self) -> float:
        """Wall-clock seconds of the run: its earlier sessions (up to their last checkpoint)
        and this one."""
        return self._wall_before + time.perf_counter() - self.started

    def images_per_second(self):
        """Training images per second over all sessions; None before any training."""
        seconds = self.totals["train_seconds"]
        return self.totals["train_images"] / seconds if seconds else None

    def check_finite(self, step: int) -> None:
        """Raises :class:`DivergedError` naming ``step`` when a weight is not finite (one
        device reduction, one transfer). The loss alone can miss it: max-pooling drops NaNs.
        """
        if not bool(self._all_finite()):
            bad = [v.name for v in self.model.trainable_variables
                   if not bool(tf.reduce_all(tf.math.is_finite(v)))]
            raise DivergedError(f"the weights {', '.join(bad)} are not finite by step {step}: "
                                "the run diverged; try a smaller learning rate")

    @tf.function(input_signature=())
    def _all_finite(self):
        return tf.reduce_all([tf.reduce_all(tf.math.is_finite(v))
                              for v in self.model.trainable_variables])

    def save(self, epochs_done: int, batches_done: int = 0) -> None:
        """Writes the next checkpoint (``ckpt-1``, ``ckpt-2``, ...): ``epochs_done`` epochs and
        ``batches_done`` batches of the next one.

        Raises:
          DivergedError: a weight is not finite; nothing is written, so the last
            good checkpoint stays the latest.
        """
        self.check_finite(epochs_done * self.steps_per_epoch + batches_done)  # before writing
        self.progress.epoch.assign(epochs_done)
        self.totals.batch.assign(batches_done)
        self.totals.values["wall_seconds"].assign(self.wall_seconds())
        self.totals.values["saved_at"].assign(time.time())
        self._number += 1
        self.manager.save(checkpoint_number=self._number)


def _learning_rate(config, steps_per_epoch: int):
    """η, or η's schedule over the run's ``epochs × steps_per_epoch`` steps: a pure function of
    the step, so a resumed run continues it from the restored step."""
    try:
        return optimizers.schedule(config.lr_schedule, config.learning_rate,
                                   config.epochs * steps_per_epoch, config.warmup_steps,
                                   config.lr_decay_rate)
    except ValueError as e:
        raise SettingError("warmup_steps", f"does not fit the run's "
                                           f"{config.epochs * steps_per_epoch} steps ({e})")


def _count(n: int, one: str, many: str) -> str:
    """``1 epoch``, ``4 epochs``, ``0 batches``."""
    return f"{n} {one if n == 1 else many}"
