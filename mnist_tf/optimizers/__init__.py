"""Optimizers: the update rules as pure functions, the modules owning only their state."""

from mnist_tf.optimizers.adam import Adam, adam_update
from mnist_tf.optimizers.adamw import AdamW, decayed_weights
from mnist_tf.optimizers.base import Optimizer
from mnist_tf.optimizers.loss_scale import LossScaleOptimizer, update_scale
from mnist_tf.optimizers.registry import OPTIMIZERS, SCHEDULES, get, schedule
from mnist_tf.optimizers.schedules import CosineDecay, ExponentialDecay, PiecewiseLinear
from mnist_tf.optimizers.sgd import SGD, sgd_update

__all__ = ["Adam", "AdamW", "CosineDecay", "ExponentialDecay", "LossScaleOptimizer", "OPTIMIZERS",
           "Optimizer", "PiecewiseLinear", "SCHEDULES", "SGD", "adam_update", "decayed_weights",
           "get", "schedule", "sgd_update", "update_scale"]
