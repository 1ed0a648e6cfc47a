"""Dynamic loss scaling for float16 (Micikevicius et al. 2018, https://arxiv.org/abs/1710.03740).

float16's smallest subnormal is 2⁻²⁴ ≈ 6e-8: gradients below it (common in
the backward pass of a float16 network) flush to zero. Differentiating S·L
instead of L multiplies every gradient of the backward pass by S, lifting them
into range; dividing the float32 gradients by S afterwards gives ∂L/∂θ back.
Too large an S overflows float16's max (65504) to inf, so S adapts — Keras 3's
``keras.optimizers.LossScaleOptimizer`` (``keras/src/optimizers/loss_scale_optimizer.py``)::

    g = ∂(S·L)/∂θ                                  (the training step: scale_loss)
    if every g is finite:
        θ ← inner_optimizer(g / S)                  (its iterations advance)
        c ← c + 1;  if c = growth_steps: S ← 2S, c ← 0
    else:                                           (the step is skipped: θ, slots
        S ← S / 2,  c ← 0                            and iterations stay as they were)

S starts at 2¹⁵ and c (finite steps in a row) at 0; both are float32/int64
tf.Variables, so a checkpoint saves them and a resumed run continues the same
scale. Powers of two make the scaling exact: g / S changes only the exponent.

Under ``tf.distribute`` (replica context) the gradients are summed across
replicas *before* the finiteness test, so every replica tests the same global
gradient and takes the same branch (the copies of θ, S and c stay equal); the
inner optimizer is then told not to sum again. The sum is taken outside the
``tf.cond`` because an all-reduce (a ``merge_call``) may not run inside a
branch in replica context; the branches only assign variables, locally.
"""

import tensorflow as tf

from mnist_tf.optimizers.base import sum_across_replicas


def update_scale(scale, counter, finite, growth_steps):
    """The loss scale and the finite-step counter after one step: returns (S', c').

    Args:
      scale: S, the current loss scale (float scalar).
      counter: c, finite steps in a row since S last changed (integer scalar).
      finite: whether this step's gradients were all finite (bool scalar).
      growth_steps: double S after this many finite steps in a row.

    ::

        finite, c = growth_steps − 1:   (2S, 0)
        finite, otherwise:              (S, c + 1)
        not finite:                     (S / 2, 0)
    """
    grow = tf.logical_and(finite, tf.equal(counter, growth_steps - 1))
    new_scale = tf.where(finite, tf.where(grow, scale * 2.0, scale), scale * 0.5)
    new_counter = tf.where(tf.logical_and(finite, tf.logical_not(grow)), counter + 1,
                           tf.zeros_like(counter))
    return new_scale, new_counter


def all_finite(grads) -> tf.Tensor:
    """True when no gradient holds an inf or a nan (``None`` gradients are ignored); a bool scalar."""
    checks = [tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


class LossScaleOptimizer(tf.Module):
    """``keras.optimizers.LossScaleOptimizer``: wraps an optimizer with a dynamic loss scale.

    Args (defaults are Keras's):
      inner_optimizer: the optimizer that applies the unscaled gradients (e.g. ``Adam``).
      initial_scale: S₀, default 2¹⁵: high, because a too-high scale is halved
        at once (one skipped step) while a too-low one doubles only every
        ``dynamic_growth_steps`` steps.
      dynamic_growth_steps: finite steps in a row before S doubles, default 2000.
      name: the module's name, default "loss_scale_optimizer".

    ``iterations``, ``learning_rate``, ``current_learning_rate`` and ``build``
    are the inner optimizer's, so a training loop treats this like any optimizer.
    """

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000,
                 name=None):
        super().__init__(name=name or "loss_scale_optimizer")
        if dynamic_growth_steps < 1:
            raise ValueError(f"dynamic_growth_steps must be >= 1, got {dynamic_growth_steps!r}")
        self.inner_optimizer = inner_optimizer
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        with self.name_scope:
            self.dynamic_scale = tf.Variable(float(initial_scale), dtype=tf.float32,
                                             trainable=False, name="dynamic_scale")
            self.step_counter = tf.Variable(0, dtype=tf.int64, trainable=False,
                                            name="step_counter")

    @property
    def iterations(self):
        """The inner optimizer's step counter: it advances only on applied (finite) steps."""
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    def current_learning_rate(self, dtype=tf.float32):
        return self.inner_optimizer.current_learning_rate(dtype)

    def build(self, var_list):
        """Creates the inner optimizer's slots (see ``Optimizer.build``)."""
        self.inner_optimizer.build(var_list)

    def scale_loss(self, loss):
        """S · loss, the loss to differentiate (in the loss's dtype: float32)."""
        return loss * tf.cast(self.dynamic_scale, loss.dtype)

    def apply_gradients(self, grads_and_vars):
        """Applies g / S through the inner optimizer if every g is finite, else skips; updates S.

        Returns g / S, summed across replicas: what was applied (or, on a skipped
        step, the non-finite gradients that were not).

        Works eagerly, inside a ``tf.function`` (one ``tf.cond``) and in a
        strategy's replica context (see the module docstring).
        """
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            return []
        grads, variables = zip(*pairs)
        self.inner_optimizer.build(variables)  # slots exist before the cond traces its branch
        with tf.name_scope(self.name):
            grads = sum_across_replicas(list(grads))
            finite = all_finite(grads)
            scale = tf.identity(self.dynamic_scale)  # S of this step, before it is updated
            unscaled = [g / tf.cast(scale, g.dtype) for g in grads]

            def apply():
                self.inner_optimizer.apply_gradients(zip(unscaled, variables),
                                                     skip_gradients_aggregation=True)

            tf.cond(finite, apply, lambda: None)
            new_scale, new_counter = update_scale(scale, self.step_counter, finite,
                                                  self.dynamic_growth_steps)
            self.dynamic_scale.assign(new_scale)
            self.step_counter.assign(new_counter)
        return unscaled
