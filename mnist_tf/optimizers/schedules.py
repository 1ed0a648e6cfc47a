"""Learning-rate schedules: pure functions of the optimizer's step, as Keras 3 computes them.

Each schedule is a callable ``schedule(step) -> η`` of the int64 step (the
optimizer's ``iterations``, which the checkpoint restores, so a resumed run
continues the same curve). The optimizers accept one wherever a float learning
rate goes (``Adam(learning_rate=CosineDecay(...))``) and cast η to each
variable's dtype. With s = the step::

    ExponentialDecay:  η(s) = η₀ · r^(s / D)         (s / D rounded down if ``staircase``)

    CosineDecay, warm-up then decay (W warm-up steps, D decay steps):
        s < W:         η(s) = η₀ + (η_peak − η₀) · s / W             linear warm-up
        s ≥ W:         η(s) = η_peak · ((1 − α) · ½(1 + cos(π · d / D)) + α),
                              d = min(s, W + D) − W                  cosine to α · η_peak
        (no warm-up: η_peak = η₀, W = 0)

    PiecewiseLinear:   η(s) = linear interpolation of (steps, values), constant outside
                       e.g. steps (0, 300, 1500), values (0, 4e-3, 0): the triangular
                       "one-cycle" shape of fast CIFAR/MNIST runs (airbench)

They compute in float64 (the step is exact there up to 2⁵³). Keras computes in the
dtype of ``initial_learning_rate`` as a tensor — float32 for a Python float — so the
two agree to float64 round-off for float64 arguments and to float32 rounding
(a few ulp) for Python floats.
"""

import math

import tensorflow as tf


class ExponentialDecay:
    """η₀ · r^(s / D): ``keras.optimizers.schedules.ExponentialDecay``.

    Args:
      initial_learning_rate: η₀.
      decay_steps: D > 0, the steps over which η is multiplied by r.
      decay_rate: r.
      staircase: use ⌊s / D⌋ (η changes every D steps) instead of s / D; default False.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be > 0, got {decay_steps!r}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def __call__(self, step) -> tf.Tensor:
        """η at ``step`` (any integer or float scalar), a float64 scalar."""
        p = tf.cast(step, tf.float64) / tf.constant(self.decay_steps, tf.float64)
        if self.staircase:
            p = tf.floor(p)
        return self.initial_learning_rate * tf.pow(tf.constant(self.decay_rate, tf.float64), p)


class CosineDecay:
    """Optional linear warm-up, then half a cosine: ``keras.optimizers.schedules.CosineDecay``.

    Loshchilov & Hutter 2016, "SGDR" (https://arxiv.org/abs/1608.03983), without restarts;
    warm-up as in Goyal et al. 2017 (https://arxiv.org/abs/1706.02677).

    Args:
      initial_learning_rate: η₀: the start of the warm-up, or of the decay without one.
      decay_steps: D > 0, the length of the cosine.
      alpha: the final η as a fraction of the decay's starting η, default 0.
      warmup_target: η_peak reached after the warm-up; None (default): no warm-up.
      warmup_steps: W, default 0.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None,
                 warmup_steps=0):
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be > 0, got {decay_steps!r}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.alpha = float(alpha)
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        self.warmup_steps = warmup_steps

    def _decay(self, s, peak):
        """peak · ((1 − α) · ½(1 + cos(π s / D)) + α), s already clipped to [0, D]."""
        fraction = s / tf.constant(self.decay_steps, tf.float64)
        cosine = 0.5 * (1.0 + tf.cos(tf.constant(math.pi, tf.float64) * fraction))
        return peak * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> tf.Tensor:
        """η at ``step`` (any integer or float scalar), a float64 scalar."""
        s = tf.cast(step, tf.float64)
        decay_steps = tf.constant(self.decay_steps, tf.float64)
        lr0 = tf.constant(self.initial_learning_rate, tf.float64)
        if self.warmup_target is None:
            return self._decay(tf.minimum(s, decay_steps), lr0)
        warmup_steps = tf.constant(self.warmup_steps, tf.float64)
        peak = tf.constant(self.warmup_target, tf.float64)
        s = tf.minimum(s, decay_steps + warmup_steps)
        return tf.cond(s < warmup_steps,
                       lambda: (peak - lr0) * (s / warmup_steps) + lr0,
                       lambda: self._decay(s - warmup_steps, peak))


class PiecewiseLinear:
    """η interpolated linearly between (step, value) knots, constant before the first and after the last.

    Args:
      steps: increasing knot steps, e.g. (0, warm-up, total).
      values: η at each knot, e.g. (0, peak, 0) for a triangular one-cycle.
    """

    def __init__(self, steps, values):
        steps, values = [float(s) for s in steps], [float(v) for v in values]
        if len(steps) != len(values) or len(steps) < 1:
            raise ValueError(f"need as many values as steps (at least one), got {len(steps)} "
                             f"steps and {len(values)} values")
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"steps must increase strictly, got {steps}")
        self.steps, self.values = steps, values

    def __call__(self, step) -> tf.Tensor:
        """η at ``step``, a float64 scalar: v_i + (v_{i+1} − v_i) · (s − s_i) / (s_{i+1} − s_i)."""
        s = tf.cast(step, tf.float64)
        lr = tf.constant(self.values[0], tf.float64)
        for (s0, v0), (s1, v1) in zip(zip(self.steps, self.values),
                                      zip(self.steps[1:], self.values[1:])):
            segment = v0 + (v1 - v0) * (tf.clip_by_value(s, s0, s1) - s0) / (s1 - s0)
            lr = tf.where(s >= s0, segment, lr)
        return lr
