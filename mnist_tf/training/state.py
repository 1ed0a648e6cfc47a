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

All of it is in every checkpoint (``mnist_tf.runs.checkpoints``), so a resumed run
carries on where it stopped, mid-epoch included.
"""

import tensorflow as tf

from mnist_tf import models, optimizers, precision
from mnist_tf.errors import MnistTfError, SettingError
from mnist_tf.runs import checkpoints
from mnist_tf.training.step_metrics import StepMetrics
from mnist_tf.training.step import make_eval_step


class DivergedError(MnistTfError):
    """The loss or the weights stopped being finite numbers."""


class TrainState:
    """The run's model, optimizer and progress.

    Args:
      config: the run's ``TrainConfig``.
      strategy: variables are created in its scope (mirrored under MirroredStrategy).
      steps_per_epoch: sets the length of a learning-rate schedule (epochs × this).
    """

    def __init__(self, config, strategy, steps_per_epoch: int):
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
        self.steps_per_epoch = steps_per_epoch
        self.eval_step = make_eval_step(self.model)

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

    def add_training(self, seconds: float, images: float) -> None:
        """Counts an epoch's (or part's) training time and images into the run's totals."""
        self.totals.values["train_seconds"].assign_add(seconds)
        self.totals.values["train_images"].assign_add(images)

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
