"""Training and evaluation: config, steps, loop, summaries, checkpoints."""

from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import default_logdir, train_and_evaluate

__all__ = ["TrainConfig", "default_logdir", "train_and_evaluate"]
