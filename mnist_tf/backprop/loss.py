"""The fused softmax cross-entropy and its gradient ∂L/∂z = (softmax(z) − onehot(y)) / N.

For logits z [B, C], labels y [B] and N the number of examples the loss is
averaged over (the global batch size under tf.distribute, else B)::

    L = (1/N) Σ_β ℓ_β,     ℓ_β = log Σ_j e^{z_βj} − z_βy_β      (``mnist_tf.losses``)

Derivation, for one example (drop β): ∂/∂z_k log Σ_j e^{z_j} = e^{z_k} / Σ_j e^{z_j}
= p_k (the softmax), and ∂z_y/∂z_k = 1[k = y], so::

    ∂ℓ/∂z_k = p_k − 1[k = y]            ∂L/∂z = (p − onehot(y)) / N   [B, C]

Every entry lies in [−1/N, 1/N]: fusing the softmax with the log is what keeps
this gradient bounded (computed apart, the chain would multiply the softmax
Jacobian by −1/p_y, huge for a confident mistake).

With label smoothing ε the target is q = (1 − ε)·onehot(y) + ε/C instead of
onehot(y), and ℓ = −Σ_k q_k log p_k; the same derivation (Σ_k q_k = 1) gives
∂ℓ/∂z_k = p_k − q_k.
"""

import tensorflow as tf

from mnist_tf import losses
from mnist_tf import precision
from mnist_tf.layers import activations


def softmax_cross_entropy(logits, labels, batch_size=None, label_smoothing=0.0):
    """The loss and its gradient with respect to the logits.

    Args:
      logits: z [B, C].
      labels: class ids [B] (or [B, 1]), any integer dtype.
      batch_size: N, the divisor: a Python number or a scalar tensor (the
        all-reduced global batch size under a strategy); None → B, the batch mean.
      label_smoothing: ε: the targets (1 − ε)·onehot(y) + ε/C.

    Returns:
      (L, ∂L/∂z): a scalar and [B, C], both in the logits' dtype — float32 when the
      logits are float16/bfloat16 (as mixed precision computes the loss), the
      gradient then cast back to the logits' dtype for the layers below.
    """
    z = precision.cast_logits(logits)
    n = tf.cast(tf.shape(z)[0] if batch_size is None else batch_size, z.dtype)
    loss = losses.scaled_sparse_categorical_crossentropy(labels, z, n, label_smoothing)
    classes = z.shape[-1]
    target = tf.one_hot(losses.sparse_labels(labels, z), depth=classes, dtype=z.dtype,
                        on_value=1.0 - label_smoothing + label_smoothing / classes,
                        off_value=label_smoothing / classes)
    dz = (activations.softmax(z) - target) / n
    return loss, tf.cast(dz, logits.dtype)
