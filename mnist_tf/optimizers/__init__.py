"""Optimizers: the update rules as pure functions, the modules owning only their state."""

from mnist_tf.optimizers.adam import Adam, adam_update
from mnist_tf.optimizers.base import Optimizer
from mnist_tf.optimizers.loss_scale import LossScaleOptimizer, update_scale
from mnist_tf.optimizers.sgd import SGD, sgd_update

__all__ = ["Adam", "LossScaleOptimizer", "Optimizer", "SGD", "adam_update", "sgd_update",
           "update_scale"]
