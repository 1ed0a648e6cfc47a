"""Weight initializers, written out: Glorot (Xavier) uniform for kernels, zeros for biases.

Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward
neural networks" (http://proceedings.mlr.press/v9/glorot10a.html): draw

    W ~ U(−limit, limit),   limit = √(6 / (fan_in + fan_out))

so that Var(W) = limit²/3 = 2 / (fan_in + fan_out), the compromise between
keeping the forward activations' variance (Var = 1/fan_in) and the backward
gradients' variance (Var = 1/fan_out) constant from layer to layer.

Fans follow Keras (``keras.src.initializers.random_initializers.compute_fans``):
a dense kernel [in, out] has fan_in = in, fan_out = out; a conv kernel
[kh, kw, in, out] has fan_in = kh·kw·in and fan_out = kh·kw·out, since each
output unit sees a kh×kw window of every input channel.

Seeds: an ``int`` or a pair of ints gives the same values every time (stateless
random ops, independent of any global seed or call order); ``None`` draws
fresh values.
"""

import math

import tensorflow as tf


def fans(shape) -> tuple:
    """(fan_in, fan_out) of a kernel of ``shape``, by Keras's rule (see the module docstring)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def glorot_uniform(shape, seed=None, dtype=tf.float32) -> tf.Tensor:
    """U(−limit, limit) with limit = √(6 / (fan_in + fan_out)).

    Args:
      shape: the kernel's shape, e.g. [kh, kw, in, out] or [in, out].
      seed: int, pair of ints, or None (nondeterministic).
      dtype: a floating dtype.

    Returns:
      A tensor of ``shape`` and ``dtype``.
    """
    fan_in, fan_out = fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, -limit, limit, seed, dtype)


def zeros(shape, dtype=tf.float32) -> tf.Tensor:
    """All zeros: biases start at 0 (the kernel's randomness already breaks symmetry)."""
    return tf.zeros(shape, dtype)


def uniform(shape, minval, maxval, seed=None, dtype=tf.float32) -> tf.Tensor:
    """U(minval, maxval); reproducible when ``seed`` is an int or a pair of ints."""
    if seed is None:
        return tf.random.uniform(shape, minval, maxval, dtype)
    seed = [int(seed), 0] if isinstance(seed, int) else [int(s) for s in seed]
    return tf.random.stateless_uniform(shape, seed, minval, maxval, dtype)
