"""One image's forward and backward pass, every layer's values kept: what the pictures show.

For a network z = f_n(… f_1(x)) (z the logits) and a class c, the forward
keeps every layer's output y_l = f_l(y_{l−1}) (y_0 = x), and the backward
keeps, for every layer, the gradient of the class score with respect to that
layer's output::

    δ_n = ∂z_c/∂z = e_c                         (one-hot: the score of class c)
    δ_{l−1} = ∂z_c/∂y_{l−1} = δ_l · ∂f_l/∂y_{l−1}  (layer l's hand-written backward)
    δ_0 = ∂z_c/∂x                               (the saliency map, [B, 28, 28, 1])

It is the backward of training (``mnist_tf.backprop``) started from e_c
instead of ∂L/∂z = softmax(z) − onehot(y), and stopped at no layer: every
δ_l is returned, not only the weight gradients. For a batch, row b starts
from e_{c_b}; the rows do not mix (inference: no batch statistics, no
dropout), so each row is its own image's δ. Nothing asks ``tf.GradientTape``.

Shapes for the reference CNN (``models/cnn.py``), per image::

    input            [28, 28, 1]     δ: ∂z_c/∂x
    conv2d           [26, 26, 32]    y = relu(x ⊛ W + b); δ: ∂z_c/∂y
    max_pooling2d    [13, 13, 32]
    conv2d_1         [11, 11, 64]    the last conv: Grad-CAM's feature maps
    max_pooling2d_1  [5, 5, 64]
    flatten          [1600]
    dropout          [1600]          the identity at inference
    dense            [10]            logits z; δ = e_c
"""

import dataclasses

import tensorflow as tf

from mnist_tf import backprop, layers


@dataclasses.dataclass
class Pass:
    """The kept values of :func:`forward_backward` (tensors; batch first)."""

    names: list          # layer names, input to output
    outputs: list        # y_l per layer [B, ...]
    deltas: list         # δ_l = ∂z_c/∂y_l per layer, lined up with ``outputs``
    input_gradient: tf.Tensor  # δ_0 = ∂z_c/∂x [B, 28, 28, 1]
    logits: tf.Tensor    # z [B, C]
    target: tf.Tensor    # c [B] int32

    def output(self, name):
        return self.outputs[self.names.index(name)]

    def delta(self, name):
        return self.deltas[self.names.index(name)]


def flat_layers(model):
    """The layers of a (nested) ``layers.Sequential`` in order, nested Sequentials opened."""
    found = []
    for layer in model.layers:
        found += flat_layers(layer) if isinstance(layer, layers.Sequential) else [layer]
    return found


def last_conv_name(model) -> str:
    """The name of the last Conv2D of ``model`` (Grad-CAM's layer); ValueError without one."""
    convs = [layer.name for layer in flat_layers(model) if isinstance(layer, layers.Conv2D)]
    if not convs:
        raise ValueError(f"model {model.name!r} has no Conv2D layer for Grad-CAM")
    return convs[-1]


def forward_backward(model, images, target=None) -> Pass:
    """The forward pass (inference) and the backward of z_c, every layer's values kept.

    Args:
      model: a ``layers.Sequential`` of layers with a hand-written backward.
      images: [B, 28, 28, 1] in the model's dtype (float32, or float64 for proofs).
      target: class ids c [B] (int); None → each image's predicted class argmax z.

    Returns:
      A :class:`Pass`.
    """
    images = tf.convert_to_tensor(images)
    names, outputs, backwards = [], [], []
    x = images
    for layer in flat_layers(model):
        x, backward = backprop.forward(layer, x, training=False)
        names.append(layer.name)
        outputs.append(x)
        backwards.append(backward)
    logits = x
    if target is None:
        target = tf.argmax(logits, axis=-1, output_type=tf.int32)
    target = tf.cast(tf.reshape(target, [-1]), tf.int32)
    delta = tf.one_hot(target, tf.shape(logits)[-1], dtype=logits.dtype)
    deltas = [None] * len(outputs)
    for i in reversed(range(len(outputs))):
        deltas[i] = delta
        delta, _ = backwards[i](delta, True)
    return Pass(names, outputs, deltas, tf.cast(delta, images.dtype), logits, target)


def class_scores(model, images, target) -> tf.Tensor:
    """z_c(x) per image, [B]: the logit of class ``target`` [B]."""
    logits = model(images, training=False)
    return tf.gather(logits, tf.cast(target, tf.int32), axis=1, batch_dims=1)
