"""Activation: an activation function as a layer (``keras.layers.Activation``).

Needed where the nonlinearity cannot be fused into the layer before it: a
convolution followed by BatchNormalization must output its raw (pre-activation)
values, so the ReLU comes after the normalisation, as its own layer::

    Conv2D(use_bias=False) → BatchNormalization → Activation("relu")

No parameters; y = f(x) elementwise (see ``mnist_tf.layers.activations``).
"""

from mnist_tf.layers import activations
from mnist_tf.layers.base import Layer


class Activation(Layer):
    """Applies ``activation`` (a name such as "relu", a callable, or None for the identity).

    ``name`` defaults to "activation", Keras's name.
    """

    def __init__(self, activation, name=None):
        super().__init__(name=name or "activation")
        self.activation = activations.get(activation)

    def _call(self, x, training):
        return self.activation(x)
