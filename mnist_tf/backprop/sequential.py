"""The chain rule through a Sequential, and ``loss_and_gradients``: backpropagation by hand.

A Sequential computes y = f_n(… f_2(f_1(x))) and the loss L(y). The chain rule
gives every gradient from one backward sweep over the layers in reverse::

    δ_n = ∂L/∂y                                  (the loss's backward)
    δ_{l−1} = ∂L/∂x_l = δ_l · ∂f_l/∂x_l          (layer l's backward: its input gradient)
    ∂L/∂θ_l = δ_l · ∂f_l/∂θ_l                    (layer l's weight gradients, on the way)

Each layer's backward needs some of its forward values (its input, output,
dropout mask), so the forward pass keeps them: as in micrograd, each layer's
forward returns its output and a closure ``backward(δ, need_dx=True) →
(∂L/∂x or None, [(variable, gradient), ...])`` that captures what it needs.
The forward calls the layers themselves (``layer(x, training=...)``), so their
math is written once; the backward is the hand-written part. Nothing here
asks ``tf.GradientTape`` for anything.

``BACKPROP`` maps each layer class to that forward-with-backward function; a
layer class missing from it (a new layer, a subclass that may compute
something else) is a clear error naming the layer.
"""

import tensorflow as tf

from mnist_tf import layers, precision
from mnist_tf.backprop.activations import activation_layer
from mnist_tf.backprop.conv import conv2d
from mnist_tf.backprop.dense import dense
from mnist_tf.backprop.dropout import dropout
from mnist_tf.backprop.loss import softmax_cross_entropy
from mnist_tf.backprop.normalization import batch_normalization
from mnist_tf.backprop.pooling import max_pool2d
from mnist_tf.backprop.reshaping import flatten


def sequential(model, x, training):
    """Forward through a ``layers.Sequential`` keeping each layer's backward: (y, backward).

    The backward visits the layers in reverse, each in a name scope of the
    layer's name (``backward/conv2d_1`` in TensorBoard's graph, the mirror of
    the forward's ``keras_example_cnn/conv2d_1``), and skips ∂L/∂x of the first
    layer unless the caller asks for it.
    """
    backwards = []
    with model.name_scope:
        for layer in model.layers:
            x, backward = forward(layer, x, training)
            backwards.append((layer.name, backward))

    def backward(dy, need_dx=True):
        gradients = []
        for i in reversed(range(len(backwards))):
            name, layer_backward = backwards[i]
            with tf.name_scope(name):
                dy, layer_gradients = layer_backward(dy, need_dx or i > 0)
            gradients = layer_gradients + gradients
        return dy, gradients

    return x, backward


BACKPROP = {
    layers.Activation: activation_layer,
    layers.BatchNormalization: batch_normalization,
    layers.Conv2D: conv2d,
    layers.Dense: dense,
    layers.Dropout: dropout,
    layers.Flatten: flatten,
    layers.MaxPool2D: max_pool2d,
    layers.Sequential: sequential,
}


def forward(layer, x, training):
    """``BACKPROP[type(layer)](layer, x, training)``: the layer's output and backward closure."""
    function = BACKPROP.get(type(layer))
    if function is None:
        raise NotImplementedError(
            f"no hand-written backward for layer {layer.name!r} of type "
            f"{type(layer).__name__}; write one in mnist_tf/backprop/ and add it to "
            "backprop.sequential.BACKPROP (known: "
            f"{', '.join(sorted(cls.__name__ for cls in BACKPROP))})")
    return function(layer, x, training)


def loss_and_gradients(model, images, labels, training=True, global_batch_size=None):
    """The loss and ∂loss/∂θ for every trainable variable, by the chain rule written out.

    Computes what the training step computes with the tape — the same numbers
    to round-off — with only forward ops: a forward pass that keeps what each
    layer's backward needs, then the backward sweep. It only reads the
    variables, so it runs eagerly, inside a ``tf.function`` and in a
    strategy's replica context alike (the optimizer sums the replicas'
    gradients). With ``training=True`` Dropout draws from its generator and
    BatchNormalization-style layers update their state, exactly once, as
    ``model(images, training=True)`` would.

    Args:
      model: a ``layers.Sequential`` (nested ones too) of layers in ``BACKPROP``.
      images: the input batch, e.g. [B, 28, 28, 1].
      labels: class ids [B] (or [B, 1]).
      training: the mode of the forward pass (Dropout on); default True, as a
        training step.
      global_batch_size: N, the divisor of Σ_b CE_b: a number or a scalar tensor
        (the step's all-reduced global batch size); None → the local batch size B.

    Returns:
      (loss, gradients): the scalar Σ_b CE_b / N, and a list lined up with
      ``model.trainable_variables``, each in its variable's dtype and shape
      (None for a variable the loss does not depend on, as the tape would say).
    """
    loss, _, gradients = loss_logits_and_gradients(model, images, labels, training,
                                                   global_batch_size)
    return loss, gradients


def loss_logits_and_gradients(model, images, labels, training=True, global_batch_size=None,
                              label_smoothing=0.0, loss_scale=None):
    """:func:`loss_and_gradients`, also returning the logits, with what a training step adds.

    Args (besides :func:`loss_and_gradients`'s):
      label_smoothing: ε of the loss (see ``backprop.loss``).
      loss_scale: S, or None for 1: the backward starts from S·∂L/∂z, so the
        gradients are those of S·L — float16's dynamic loss scaling, which keeps
        small gradients from underflowing on their way down (the optimizer
        divides by S again).

    Returns:
      (loss L, logits z [B, C] (float32 under mixed precision), gradients of S·L).
    """
    logits, backward = forward(model, images, training)
    with tf.name_scope("loss"):
        loss, dlogits = softmax_cross_entropy(logits, labels, global_batch_size,
                                              label_smoothing)
        if loss_scale is not None:
            dlogits = dlogits * tf.cast(loss_scale, dlogits.dtype)
    with tf.name_scope("backward"):
        _, pairs = backward(dlogits, need_dx=False)
    by_variable = {}
    for variable, gradient in pairs:
        gradient = tf.cast(gradient, variable.dtype)
        previous = by_variable.get(variable.ref())  # a layer used twice adds its two gradients
        by_variable[variable.ref()] = gradient if previous is None else previous + gradient
    gradients = [by_variable.get(v.ref()) for v in model.trainable_variables]
    return loss, precision.cast_logits(logits), gradients
