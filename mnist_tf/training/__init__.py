"""Training and evaluation: config, run, state, data, steps, loop, summaries, checkpoints."""

from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from mnist_tf.training.run import default_logdir, newest_run, run_config

__all__ = ["TrainConfig", "default_logdir", "newest_run", "run_config", "train_and_evaluate"]
