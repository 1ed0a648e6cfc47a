"""Sequential: layers applied one after the other, y = f_n(… f_2(f_1(x))) (``keras.Sequential``).

By the chain rule, ∂L/∂x = ∂L/∂y · ∂f_n/∂… · ∂f_1/∂x: the backward pass visits the
layers in reverse, which ``tf.GradientTape`` does for us.
"""

import tensorflow as tf


class Sequential(tf.Module):
    """A list of layers, each called as ``layer(x, training=training)``.

    Args:
      layers: the layers, in order (kept as the ``layers`` list attribute).
      name: the module's name and name scope; default "sequential".

    Call: ``model(x, training=False)`` → the last layer's output.
    """

    def __init__(self, layers, name=None):
        super().__init__(name=name or "sequential")
        self.layers = list(layers)

    def __call__(self, x, training=False):
        with self.name_scope:
            for layer in self.layers:
                x = layer(x, training=training)
            return x

    @property
    def trainable_variables(self):
        """Every layer's (kernel, bias), layer by layer: Keras's order, for ``set_weights``-style zips."""
        return tuple(v for layer in self.layers for v in layer.trainable_variables)
