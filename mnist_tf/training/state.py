"""Everything one run trains and checkpoints, built under the strategy's scope (Flax's ``TrainState``).

    model          the network (``mnist_tf.models``) under the config's precision
                   policy (``mnist_tf.precision``), its variables created here
    optimizer      ``mnist_tf.optimizers.get(config.optimizer)``, slots built here;
                   wrapped in a ``LossScaleOptimizer`` for mixed_float16
    progress       epochs done and the seed (``checkpoints.RunState``)
    epoch_metrics  the last epoch's figures (``checkpoints.EpochMetrics``)
    step_metrics   the running sums of the current epoch (``step_metrics.StepMetrics``)

All of it is in every checkpoint, so a resumed run carries on where it stopped.
"""

import tensorflow as tf

from mnist_tf import models, optimizers, precision
from mnist_tf.errors import CheckpointError, MnistTfError
from mnist_tf.training import checkpoints
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
    """

    def __init__(self, config, checkpoint_dir: str, strategy):
        with strategy.scope():
            model = precision.set_policy(models.get(config.model, seed=config.seed),
                                         config.precision)
            self.model = models.build(model)
            self.optimizer = optimizers.get(config.optimizer, config.learning_rate,
                                            momentum=config.momentum)
            if precision.get(config.precision).needs_loss_scaling:  # float16's small range
                self.optimizer = optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.progress = checkpoints.RunState(config.seed)
            self.epoch_metrics = checkpoints.EpochMetrics()
        self.step_metrics = StepMetrics()  # updated in cross-replica context: not mirrored
        self.manager = checkpoints.make_manager(checkpoint_dir, self.model, self.optimizer,
                                                self.progress, self.epoch_metrics,
                                                self.step_metrics, config.keep_checkpoints)
        self.eval_step = make_eval_step(self.model)

    @property
    def step(self) -> int:
        """Training steps taken so far (the optimizer's ``iterations``)."""
        return int(self.optimizer.iterations.numpy())

    @property
    def epochs_done(self) -> int:
        return int(self.progress.epoch.numpy())

    @property
    def seed(self) -> int:
        return int(self.progress.seed.numpy())

    def restore_or_start(self, resume: bool, directory: str, log) -> int:
        """Restores the newest checkpoint in ``directory`` when resuming; returns the first epoch.

        ``directory`` is the chief's checkpoint directory: every worker of a
        multi-worker run restores from it, whatever directory it saves into.

        Raises:
          CheckpointError: checkpoints exist but ``resume`` is False, or the reverse.
        """
        latest = tf.train.latest_checkpoint(directory) if tf.io.gfile.isdir(directory) else None
        if latest and not resume:
            raise CheckpointError(f"{directory} already holds checkpoints: resume that run, "
                                  "or choose a new logdir")
        if resume and not latest:
            raise CheckpointError(f"no checkpoint in {directory} to resume from")
        if latest:
            checkpoints.restore_run(latest, self.model, self.optimizer, self.progress,
                                    self.epoch_metrics, self.step_metrics)
            log(f"resumed from {latest}: {self.epochs_done} epochs done, step {self.step}")
        return self.epochs_done

    def save(self, epoch: int) -> None:
        """Records ``epoch`` as done and writes checkpoint ``ckpt-<epoch>``.

        Raises:
          DivergedError: a weight is not finite; nothing is written, so the last
            good checkpoint stays the latest.
        """
        bad = [v.name for v in self.model.trainable_variables
               if not bool(tf.reduce_all(tf.math.is_finite(v)))]
        if bad:
            raise DivergedError(f"after epoch {epoch} the weights {', '.join(bad)} are not "
                                "finite; nothing was saved: try a smaller learning rate")
        self.progress.epoch.assign(epoch)
        self.manager.save(checkpoint_number=epoch)
