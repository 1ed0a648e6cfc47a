"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019, https://arxiv.org/abs/1711.05101).

L2 regularisation adds λθ to the gradient, and Adam then divides it by √v like any
gradient: heavily-updated weights are barely decayed. AdamW instead shrinks the
weights directly, outside Adam's normalisation. Keras 3's form
(``keras/src/optimizers/base_optimizer.py``, ``_apply_weight_decay``, run before the
update step), with η the learning rate at this step and λ the weight decay::

    θ ← θ − θ · λ · η              decoupled decay (scaled by η, as Keras and PyTorch)
    θ ← θ + Δθ_Adam(g, η, t)       the unchanged Adam step (``adam_update``)

Keras decays every variable it is given — biases and BatchNormalization's γ, β too —
unless told otherwise (its ``exclude_from_weight_decay``); so does this, and
``exclude_from_weight_decay(var_names=...)`` takes the same name fragments.
"""

import re

import tensorflow as tf

from mnist_tf.optimizers.adam import Adam


def decayed_weights(theta, lr, weight_decay):
    """θ − θ·λ·η, the decoupled weight decay of one variable, in Keras's op order.

    Args:
      theta: θ, the variable's value.
      lr: η, a scalar of θ's dtype.
      weight_decay: λ, a Python float, cast to θ's dtype as Keras casts it (``tf.cast``,
        which rounds a Python float through float32, as ``adam_update`` does for β₁, β₂).
    """
    return theta - theta * tf.cast(weight_decay, theta.dtype) * lr


class AdamW(Adam):
    """``keras.optimizers.AdamW`` as a tf.Module: Adam's state, plus the decay before each step.

    Args (defaults are Keras's):
      learning_rate: η, a float or a schedule (a callable of the int64 step), default 1e-3.
      weight_decay: λ, default 0.004 (the decay per step is η·λ, relative).
      beta_1, beta_2, epsilon: as ``Adam`` (0.9, 0.999, 1e-7).
      name: the module's name, default "adamw".
    """

    def __init__(self, learning_rate=1e-3, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, name=None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, name=name or "adamw")
        self.weight_decay = float(weight_decay)
        self._exclude_pattern = None

    def exclude_from_weight_decay(self, var_names):
        """Variables whose name contains one of ``var_names`` (e.g. ``["bias", "gamma", "beta"]``) are not decayed."""
        self._exclude_pattern = "|".join(re.escape(name) for name in var_names) or None

    def _decays(self, var) -> bool:
        return self._exclude_pattern is None or not re.search(self._exclude_pattern, var.name)

    def _update(self, g, var, slots, lr, t):
        # Adam's Δθ does not depend on θ, so decaying θ first (its own assign, Keras's
        # rounding) and then adding Δθ is exactly Keras's "decay all, then update all".
        if self.weight_decay and self._decays(var):
            var.assign(decayed_weights(var, lr, self.weight_decay))
        return super()._update(g, var, slots, lr, t)
