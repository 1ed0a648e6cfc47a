"""Backpropagation by hand: every gradient of the network written out, no tf.GradientTape.

``loss_and_gradients(model, images, labels, training=True, global_batch_size=None)``
returns the loss and its gradients for ``model.trainable_variables``, equal to the
tape's to round-off (``tests/test_backprop*.py``). One file per piece of the chain:

  loss.py           softmax cross-entropy:  ∂L/∂z = (softmax(z) − onehot(y)) / N
  activations.py    linear, relu, softmax, written from the layer's output; Activation
  affine.py         what Conv2D and Dense share: y = act(x ⊛ W + b)
  dense.py          ∂L/∂x = δ Wᵀ,  ∂L/∂W = xᵀ δ,  ∂L/∂b = Σ δ
  conv.py           ∂L/∂x = δ (dilated, padded) convolved with W rotated 180°, channels swapped;
                    ∂L/∂W = x correlated with δ
  pooling.py        max pooling: δ routed to each window's first maximum
  reshaping.py      Flatten: δ reshaped back
  dropout.py        δ times the forward's own mask
  normalization.py  BatchNormalization: the three-term formula (training), a scale (inference)
  geometry.py       padding, strided windows, dilation (shared by conv and pooling)
  sequential.py     the chain rule through a Sequential; ``loss_and_gradients``
"""

from mnist_tf.backprop.sequential import (BACKPROP, forward, loss_and_gradients,
                                          loss_logits_and_gradients)

__all__ = ["BACKPROP", "forward", "loss_and_gradients", "loss_logits_and_gradients"]
