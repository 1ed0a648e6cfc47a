"""Stochastic gradient descent, plain, with momentum, or Nesterov — Keras 3's exact rules.

With gradient g, learning rate η and momentum μ (``keras/src/optimizers/sgd.py``)::

    plain (μ = 0):   θ ← θ − η g
    momentum:        m ← μ m − η g ;   θ ← θ + m
    Nesterov:        m ← μ m − η g ;   θ ← θ + μ m − η g      (the new m: a look-ahead step)

Sign convention: Keras's m is a *velocity* — it already carries −η, so it is
added to θ. m starts at 0. Nesterov (Sutskever et al. 2013,
http://proceedings.mlr.press/v28/sutskever13.html) takes the step the momentum
is about to take, then corrects it with the gradient.
"""

from mnist_tf.optimizers.base import Optimizer


def sgd_update(g, lr, momentum=0.0, nesterov=False, m=None):
    """One SGD step for one variable: returns (Δθ, new m), to apply as θ ← θ + Δθ.

    Args:
      g: the gradient ∂L/∂θ, any shape.
      lr: η, a scalar of g's dtype.
      momentum: μ (Python float); 0 means no velocity (``m`` is then ignored and None is returned).
      nesterov: use the Nesterov look-ahead step.
      m: the velocity from the last step (same shape as g).
    """
    if momentum == 0.0:
        return -(g * lr), None
    m = m * momentum - g * lr          # v_t = μ v_{t−1} − η g_t
    if nesterov:
        return m * momentum - g * lr, m  # θ_t = θ_{t−1} + μ v_t − η g_t
    return m, m                        # θ_t = θ_{t−1} + v_t


class SGD(Optimizer):
    """``keras.optimizers.SGD`` as a tf.Module: ``iterations`` and, when μ > 0, one velocity slot per variable.

    Args:
      learning_rate: η, a float or a schedule (a callable of the int64 step), default 0.01 as Keras.
      momentum: μ in [0, 1], default 0 (plain SGD).
      nesterov: Nesterov momentum, default False.
      name: the module's name, default "sgd".
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None):
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        super().__init__(learning_rate, name or "sgd", ("momentum",) if momentum else ())
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, g, var, slots, lr, t):
        delta, m = sgd_update(g, lr, self.momentum, self.nesterov, slots[0] if slots else None)
        return delta, [m] if slots else []
