"""Dropout: during training, zero each unit with probability ``rate`` and scale the rest up.

Srivastava et al. 2014 (https://jmlr.org/papers/v15/srivastava14a.html), in the
"inverted" form Keras uses: with u ~ U[0, 1) drawn per element::

    training:   y = x · 1[u ≥ rate] / (1 − rate)        inference:   y = x

so E[y] = x and nothing needs rescaling at inference. The gradient is the same
mask and scale: ∂y/∂x = 1[u ≥ rate] / (1 − rate).

The random numbers come from a ``tf.random.Generator`` the layer owns: it is
created in ``__init__`` (so under whatever ``strategy.scope()`` the model is
built in), it is tracked by tf.Module, and ``tf.train.Checkpoint`` saves its
state — a resumed run continues the same random stream. Its state is not
trainable.
"""

import tensorflow as tf

from mnist_tf.layers.base import Layer


class Dropout(Layer):
    """Inverted dropout.

    Args:
      rate: the fraction of units to drop, in [0, 1); 0 makes the layer the identity.
      seed: int, pair of ints or None (nondeterministic): seeds the generator.
      name: default "dropout".

    Call: ``layer(x, training=False)`` → same shape; random only when ``training`` is True.
    """

    def __init__(self, rate, seed=None, name=None):
        super().__init__(name=name or "dropout")
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        with self.name_scope:
            if seed is None:
                self.generator = tf.random.Generator.from_non_deterministic_state()
            else:
                self.generator = tf.random.Generator.from_seed(seed)

    def _call(self, x, training):
        return self.masked(x, training)[0]

    def masked(self, x, training):
        """(y, m): y = x · m and the mask m drawn for it; (x, None) in inference or at rate 0.

        The hand-written backward (``mnist_tf.backprop.dropout``) calls this too, so
        that it multiplies by the very mask of the forward pass.
        """
        if not training or self.rate == 0.0:
            return x, None
        mask = self.keep_mask(tf.shape(x), x.dtype)
        return x * mask, mask

    def keep_mask(self, shape, dtype) -> tf.Tensor:
        """Draws the scaled mask m = 1[u ≥ rate] / (1 − rate) ∈ {0, 1/(1 − rate)}, [shape].

        Training multiplies by it (y = x · m), and it is also ∂y/∂x: the
        hand-written backward (``mnist_tf.backprop.dropout``) draws its mask here
        so that it takes exactly the numbers the layer's own call would take.
        Each call advances ``generator``.
        """
        keep = self.generator.uniform(shape, dtype=dtype) >= self.rate
        return tf.cast(keep, dtype) * (1.0 / (1.0 - self.rate))
