"""Optimizers: the update rules as pure functions, the modules owning only their state."""

from mnist_tf.optimizers.adam import Adam, adam_update
from mnist_tf.optimizers.base import Optimizer
from mnist_tf.optimizers.sgd import SGD, sgd_update

__all__ = ["Adam", "Optimizer", "SGD", "adam_update", "sgd_update"]
