"""Adam: Kingma & Ba 2014, "Adam: A Method for Stochastic Optimization" (https://arxiv.org/abs/1412.6980).

Keras 3's form (``keras/src/optimizers/adam.py``), which is the paper's
Algorithm 1 with the "more efficient" ordering of its section 2: both bias
corrections folded into the step size, and ε added to √v_t rather than to
√v̂_t (the paper's ε̂)::

    t   ← iterations + 1
    α_t = η · √(1 − β₂ᵗ) / (1 − β₁ᵗ)
    m_t = β₁ m_{t−1} + (1 − β₁) g_t         (written m + (g − m)(1 − β₁), as Keras)
    v_t = β₂ v_{t−1} + (1 − β₂) g_t²
    θ_t = θ_{t−1} − α_t · m_t / (√v_t + ε̂)

Since √v̂_t = √v_t / √(1 − β₂ᵗ), this equals θ − η m̂_t / (√v̂_t + ε) with
ε = ε̂ / √(1 − β₂ᵗ): the same algorithm with a slightly different ε early on.
"""

import tensorflow as tf

from mnist_tf.optimizers.base import Optimizer


def adam_update(g, lr, beta_1, beta_2, epsilon, t, m, v):
    """One Adam step for one variable: returns (Δθ, m_t, v_t), to apply as θ ← θ + Δθ.

    Args:
      g: g_t, the gradient.
      lr: η, a scalar of g's dtype.
      beta_1, beta_2, epsilon: β₁, β₂, ε̂ (Python floats, as Keras keeps them).
      t: the step number, starting at 1, a scalar of g's dtype.
      m, v: m_{t−1}, v_{t−1}.
    """
    beta_1_power = tf.pow(tf.cast(beta_1, g.dtype), t)          # β₁ᵗ
    beta_2_power = tf.pow(tf.cast(beta_2, g.dtype), t)          # β₂ᵗ
    alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)  # α_t, bias corrections folded in
    m = m + (g - m) * (1 - beta_1)                              # m_t: biased 1st moment estimate
    v = v + (tf.square(g) - v) * (1 - beta_2)                   # v_t: biased 2nd raw moment estimate
    return -(m * alpha / (tf.sqrt(v) + epsilon)), m, v          # −α_t m_t / (√v_t + ε̂)


class Adam(Optimizer):
    """``keras.optimizers.Adam`` as a tf.Module: ``iterations`` and slots m, v per variable.

    Args (defaults are Keras's):
      learning_rate: η, a float or a schedule (a callable of the int64 step), default 1e-3.
      beta_1: β₁, decay of the gradient's running mean, default 0.9.
      beta_2: β₂, decay of the squared gradient's running mean, default 0.999.
      epsilon: ε̂, keeps the division finite, default 1e-7 (the paper says 1e-8).
      name: the module's name, default "adam".
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None):
        super().__init__(learning_rate, name or "adam", ("m", "v"))
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, g, var, slots, lr, t):
        m, v = slots
        delta, m, v = adam_update(g, lr, self.beta_1, self.beta_2, self.epsilon, t, m, v)
        return delta, [m, v]
