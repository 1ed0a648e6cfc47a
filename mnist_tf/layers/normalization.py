"""BatchNormalization: normalise each channel by batch statistics (training) or moving ones (inference).

Ioffe & Szegedy 2015 (https://arxiv.org/abs/1502.03167), as ``keras.layers.BatchNormalization``.
For x [..., C] (channel axis last by default), with the statistics taken over every
axis but the channel axis (for images [B, H, W, C]: over B·H·W values per channel)::

    training:   μ = mean(x)                 σ² = mean((x − μ)²)      (biased, as Keras)
                moving_mean     ← moving_mean     · momentum + μ  · (1 − momentum)
                moving_variance ← moving_variance · momentum + σ² · (1 − momentum)
    inference:  μ = moving_mean             σ² = moving_variance

    y = γ · (x − μ) / √(σ² + ε) + β   computed as   y = x · s + (β − μ · s),  s = γ / √(σ² + ε)

(the second form is ``tf.nn.batch_normalization``'s op order, so outputs match Keras
bit for bit). γ starts at 1, β at 0, the moving mean at 0 and the moving variance at 1.
In training the gradient also flows through μ and σ², giving the classic three-term
backward (with x̂ = (x − μ)/√(σ² + ε), δ = ∂L/∂y, n values per channel)::

    ∂L/∂x = γ / (n √(σ² + ε)) · (n δ − Σ δ − x̂ Σ δ x̂)     ∂L/∂γ = Σ δ x̂     ∂L/∂β = Σ δ

Here ``tf.GradientTape`` derives it. Parameters: 2·C trainable (γ, β) and 2·C not (the
moving statistics), all tf.Variables tracked by tf.Module, so ``tf.train.Checkpoint``
and SavedModel keep them.

Under ``tf.distribute`` (Keras's default, ``synchronized=False``), each replica normalises
by the statistics of its own share of the batch. The moving statistics are created with
``synchronization=ON_READ, aggregation=MEAN`` (what Keras 2, bundled with TensorFlow,
did): each replica updates its own copy with a plain assign, valid in replica context,
and a read outside the replicas (evaluation, checkpoint, SavedModel) returns the mean of
the copies. Keras 3
instead keeps them mirrored (ON_WRITE) with aggregation NONE: each replica's assign
updates only its own copy, the copies drift apart, and a read outside the replicas sees
the first replica's copy. On one device the two are identical.

Mixed precision: as Keras, float16/bfloat16 inputs are cast to float32 for the
statistics and the normalisation (their range is too small for a sum of squares) and
the output is cast back; the variables are float32 then.
"""

import tensorflow as tf

from mnist_tf import initializers
from mnist_tf.layers.base import Layer

_HALF = (tf.float16, tf.bfloat16)


def _statistics_dtype(dtype):
    """float32 for half-precision inputs (as Keras), else the input's dtype."""
    return tf.float32 if dtype in _HALF else dtype


class BatchNormalization(Layer):
    """Batch normalisation over one channel axis.

    Args (Keras's names and defaults):
      axis: the channel axis, default -1 (channels last, NHWC).
      momentum: of the moving averages, default 0.99 (an average over ~100 batches).
      epsilon: ε, keeps √(σ² + ε) away from 0, default 1e-3.
      center: learn β (default True); False means β = 0.
      scale: learn γ (default True); False means γ = 1 (e.g. when a linear layer follows).
      name: default "batch_normalization".

    Call: ``layer(x, training=False)`` → same shape and dtype as x. ``training=True``
    uses and folds in the batch statistics; False uses the moving ones.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 name=None):
        super().__init__(name=name or "batch_normalization")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self._reduction_axes = None

    @property
    def trainable_variables(self):
        """(γ, β) in Keras's order, those that exist."""
        return tuple(v for v in (self.gamma, self.beta) if v is not None)

    @property
    def non_trainable_variables(self):
        """(moving_mean, moving_variance), Keras's order."""
        return (self.moving_mean, self.moving_variance)

    def _build(self, input_shape, dtype):
        rank = input_shape.rank
        if rank is None or not -rank <= self.axis < rank or input_shape[self.axis] is None:
            raise ValueError(f"BatchNormalization {self.name!r}: axis {self.axis} must be a known "
                             f"dimension of the input, got shape {input_shape}")
        axis = self.axis % rank
        self._reduction_axes = [i for i in range(rank) if i != axis]
        self._broadcast_shape = [input_shape[axis] if i == axis else 1 for i in range(rank)]
        shape = [input_shape[axis]]
        dtype = _statistics_dtype(dtype)
        if self.scale:
            self.gamma = tf.Variable(tf.ones(shape, dtype), name="gamma")
        if self.center:
            self.beta = tf.Variable(initializers.zeros(shape, dtype), name="beta")
        moving = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                      aggregation=tf.VariableAggregation.MEAN)
        self.moving_mean = tf.Variable(initializers.zeros(shape, dtype), name="moving_mean",
                                       **moving)
        self.moving_variance = tf.Variable(tf.ones(shape, dtype), name="moving_variance",
                                           **moving)

    def _call(self, x, training):
        output_dtype = x.dtype
        x = tf.cast(x, _statistics_dtype(x.dtype))
        if training:
            mean, variance = self._moments(x)
            self._update_moving(self.moving_mean, mean)
            self._update_moving(self.moving_variance, variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        y = normalize(x, self._to_broadcast(mean), self._to_broadcast(variance),
                      self._to_broadcast(self.gamma), self._to_broadcast(self.beta), self.epsilon)
        return tf.cast(y, output_dtype)

    def _moments(self, x):
        """Per-channel μ and biased σ² over the reduction axes, each [C]."""
        mean = tf.reduce_mean(x, self._reduction_axes, keepdims=True)
        # μ is a constant for σ²'s gradient: Σ (x − μ) = 0, so ∂σ²/∂μ = 0 anyway.
        variance = tf.reduce_mean(tf.math.squared_difference(x, tf.stop_gradient(mean)),
                                  self._reduction_axes, keepdims=True)
        return tf.reshape(mean, [-1]), tf.reshape(variance, [-1])

    def _update_moving(self, variable, value):
        """variable ← variable · momentum + value · (1 − momentum) (Keras's op order)."""
        variable.assign(variable * self.momentum + value * (1.0 - self.momentum))

    def _to_broadcast(self, v):
        """A [C] vector (or None) reshaped to broadcast against the input along ``axis``."""
        return None if v is None else tf.reshape(v, self._broadcast_shape)


def normalize(x, mean, variance, gamma, beta, epsilon):
    """y = x · s + (β − μ s), s = γ / √(σ² + ε); γ/β None mean 1/0. Shapes broadcast against x."""
    s = tf.math.rsqrt(variance + epsilon)
    if gamma is not None:
        s = s * gamma
    return x * s + (beta - mean * s if beta is not None else -mean * s)
