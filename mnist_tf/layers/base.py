"""What every layer shares: called as ``layer(x, training=False)``, built once from its first input.

Sonnet 2's pattern (``sonnet/src/linear.py``): the variables cannot exist before
the input's size is known, so the first call builds them — from the input's
static shape and dtype, never from sizes worked out by hand. The build runs
under ``tf.init_scope`` so the variables are created eagerly (and mirrored, under
a ``tf.distribute`` strategy's scope) even when that first call is being traced
by a ``tf.function``. Every call runs inside the layer's name scope, so a
TensorBoard graph groups the ops by layer.

The arguments shared by the layers are documented here once:

  kernel_size / pool_size / strides: an int n (meaning (n, n)) or a pair
    (height, width), as Keras accepts.
  padding: ``"valid"`` (no padding: out = ⌊(n − k) / s⌋ + 1) or ``"same"``
    (zero padding so that out = ⌈n / s⌉; the extra row/column goes at the
    bottom/right, as in TensorFlow and Keras).
  activation: None (identity), a name (``"relu"``, ``"softmax"``) or a callable.
  use_bias: add a learned bias (default True, as Keras).
  seed: int, pair of ints, or None: seeds the kernel's Glorot-uniform draw
    (None: different every time).
  name: the module's name (and name scope); defaults to Keras's base name.

Mixed precision (Keras's autocast, ``mnist_tf.precision``): a layer's
``dtype_policy`` is None by default — no casts at all, the variables take the
first input's dtype (float32 training, float64 studies) — or a
``precision.Policy`` set by ``precision.set_policy(model, name)`` before the
model is built. With a policy:

  * the variables are created in ``variable_dtype`` (float32): they are the
    master weights the optimizer updates. An update η·m/(√v + ε) is often below
    half a bfloat16/float16 ulp of the weight (2⁻⁸ / 2⁻¹¹ relative), so in the
    compute dtype it would round away and training would stall;
  * ``__call__`` casts a floating input to ``compute_dtype`` (bfloat16 or
    float16) once, at the layer's door, so the layer's matmul/convolution runs
    in that dtype and hands the next layer a compute-dtype tensor (MaxPool2D and
    Flatten then have nothing to cast: they pass it through);
  * ``_call`` reads each variable through ``self.autocast(v)``, a ``tf.cast``
    to the compute dtype. The cast is differentiable (its gradient is the
    incoming gradient cast back), so ``tape.gradient`` w.r.t. the float32
    variable is float32.

A layer opts in by reading its weights through ``self.autocast``; a layer
whose statistics must stay float32 (BatchNormalization's mean and variance, as
Keras keeps them) reads them directly and casts its input up to float32
itself, then its output back to ``self.compute_dtype``.
"""

import tensorflow as tf

from mnist_tf import initializers


class Layer(tf.Module):
    """Base class: ``__call__`` builds once, then runs ``_call`` in the layer's name scope.

    Subclasses override ``_build(input_shape, dtype)`` when they own variables
    (``dtype`` is the variable dtype: the policy's, else the input's) and
    ``_call(x, training)`` for the computation (``x`` already in the compute
    dtype). Layers with weights keep them as ``kernel`` and ``bias`` (None when
    absent), in Keras's layouts, and read them through ``autocast``.
    """

    def __init__(self, name=None):
        super().__init__(name=name)
        self.kernel = None
        self.bias = None
        self.dtype_policy = None  # a precision.Policy, set by precision.set_policy
        self._built = False

    def __call__(self, x, training=False):
        """Applies the layer; ``training`` matters only to Dropout (a Python bool)."""
        with self.name_scope:
            x = self._cast_input(tf.convert_to_tensor(x))
            if not self._built:
                with tf.init_scope():
                    self._build(x.shape, self.variable_dtype or x.dtype)
                self._built = True
            return self._call(x, training)

    @property
    def compute_dtype(self):
        """The dtype the layer computes in: its policy's, or None (the input's, no casts)."""
        return None if self.dtype_policy is None else self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self):
        """The dtype of the variables it creates: its policy's, or None (the first input's)."""
        return None if self.dtype_policy is None else self.dtype_policy.variable_dtype

    def autocast(self, variable):
        """``variable`` as the computation sees it: cast to the compute dtype under a policy.

        Without a policy (or when the dtypes already agree) the variable itself
        is returned, so float32 runs the very same ops as before policies existed.
        The gradient of ``tf.cast`` is the incoming gradient cast back, so
        ∂L/∂variable stays in the variable's dtype (float32).
        """
        if self.compute_dtype is None or variable.dtype == self.compute_dtype:
            return variable
        return tf.cast(variable, self.compute_dtype)

    def _cast_input(self, x):
        """A floating input cast to the compute dtype (integers pass, as in Keras)."""
        if self.compute_dtype is None or not x.dtype.is_floating or x.dtype == self.compute_dtype:
            return x
        return tf.cast(x, self.compute_dtype)

    @property
    def trainable_variables(self):
        """(kernel, bias) in Keras's order (tf.Module alone would sort them by name)."""
        return tuple(v for v in (self.kernel, self.bias) if v is not None and v.trainable)

    def _build(self, input_shape, dtype):
        del input_shape, dtype  # layers without variables build nothing

    def _call(self, x, training):
        raise NotImplementedError

    def _make_weights(self, kernel_shape, units, seed, use_bias, dtype):
        """Creates ``kernel`` (Glorot uniform) and, if ``use_bias``, ``bias`` [units] (zeros)."""
        self.kernel = tf.Variable(initializers.glorot_uniform(kernel_shape, seed, dtype),
                                  name="kernel")
        if use_bias:
            self.bias = tf.Variable(initializers.zeros([units], dtype), name="bias")


def last_dim(input_shape, layer) -> int:
    """The input's last (feature/channel) dimension; a clear error when it is unknown."""
    if input_shape.rank is None or input_shape[-1] is None:
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: the last dimension of the "
                         f"input must be known to create the weights, got shape {input_shape}")
    return int(input_shape[-1])


def pair(value, what: str) -> tuple:
    """``3`` → (3, 3); ``(3, 5)`` → (3, 5); anything else is a ValueError."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int) and v > 0 for v in values):
        raise ValueError(f"{what} must be a positive int or a pair of them, got {value!r}")
    return values


def check_padding(padding: str) -> str:
    """``"valid"``/``"same"`` (any case) → the upper-case form ``tf.nn`` wants."""
    if str(padding).lower() not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return str(padding).upper()
