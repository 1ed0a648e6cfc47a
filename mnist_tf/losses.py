"""Sparse categorical cross-entropy: the loss of a classifier whose labels are class ids.

For logits z [B, C] and labels y [B] (ints in [0, C)), per example::

    L = −log softmax(z)[y] = −log( exp(z_y) / Σ_j exp(z_j) ) = logsumexp(z) − z_y

computed as log Σ_j exp(z_j − m) − (z_y − m) with m = max_j z_j: the same
number, but exp(z_j − m) ≤ 1 never overflows and the largest term is exactly 1,
so the log never sees 0 — finite even for logits of ±1e4, where
exp(1e4) = inf in any float. The gradient is::

    ∂L/∂z_j = softmax(z)_j − 1[j = y]          i.e.   ∂L/∂z = p − onehot(y)

Why softmax and cross-entropy are fused: computed separately, p = softmax(z)
underflows to 0 for a very wrong class and log 0 = −inf (a NaN gradient
follows), and the backward pass would multiply the softmax Jacobian
p_i(δ_ij − p_j) by −1/p_y, which is large where p_y is small; fused, all of that
cancels to the bounded p − onehot(y). Hence the model outputs logits and the
loss takes ``from_logits=True``.

With probabilities (``from_logits=False``) Keras 3's TensorFlow backend
(``keras/src/backend/tensorflow/nn.py``) clips p to [ε, 1 − ε], ε = 1e-7, and
feeds log p to the same formula as logits — so it also renormalises:
L = log Σ_j clip(p_j) − log clip(p_y). We do exactly that. (Keras additionally
recovers the logits when ``p`` is literally the output of a Keras softmax
layer; we never need that: our models output logits.)

Label smoothing (Szegedy et al. 2016, https://arxiv.org/abs/1512.00567) trains
towards q = (1 − ε)·onehot(y) + ε/C instead of onehot(y), which keeps the
logits from growing without bound to make p_y → 1. With s = z − m::

    L = −Σ_j q_j log p_j = (1 − ε)·(lse − s_y) + ε·(lse − mean_j s_j),   lse = log Σ_j exp(s_j)
    ∂L/∂z = p − q

Keras offers it on one-hot labels, ``CategoricalCrossentropy(label_smoothing=ε)``;
here it takes class ids, without building the [B, C] one-hot matrix.
"""

import tensorflow as tf

EPSILON = 1e-7  # keras.config.epsilon()


def sparse_labels(y_true, output) -> tf.Tensor:
    """Labels as int32 with the shape of ``output`` minus its last axis ([B, 1] → [B], as Keras)."""
    labels = tf.cast(y_true, tf.int32)
    if labels.shape.rank == output.shape.rank and labels.shape[-1] == 1:
        labels = tf.squeeze(labels, axis=-1)
    return labels


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1,
                                    label_smoothing=0.0) -> tf.Tensor:
    """Per-example cross-entropy, as ``keras.losses.sparse_categorical_crossentropy``.

    Args:
      y_true: class ids [B] (or [B, 1]), any integer or float dtype.
      y_pred: logits (``from_logits=True``) or probabilities [B, C].
      from_logits: False by default, as Keras; our models output logits, so pass True.
      axis: the class axis; only the last is supported (as Keras's TF backend).
      label_smoothing: ε in [0, 1]: the targets become (1 − ε)·onehot + ε/C (as Keras's
        ``CategoricalCrossentropy(label_smoothing=ε)`` on one-hot labels); 0 by default.

    Returns:
      The loss of each example, [B], in the dtype of ``y_pred``.
    """
    y_pred = tf.convert_to_tensor(y_pred)
    if axis not in (-1, y_pred.shape.rank - 1):
        raise ValueError(f"only axis=-1 (the last) is supported, got axis={axis}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    labels = sparse_labels(y_true, y_pred)
    z = y_pred if from_logits else tf.math.log(tf.clip_by_value(y_pred, EPSILON, 1 - EPSILON))
    shifted = z - tf.stop_gradient(tf.reduce_max(z, axis=-1, keepdims=True))
    log_sum_exp = tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=-1))
    nll = log_sum_exp - tf.gather(shifted, labels, batch_dims=labels.shape.rank)
    if not label_smoothing:
        return nll
    uniform = log_sum_exp - tf.reduce_mean(shifted, axis=-1)  # −(1/C) Σ_j log p_j
    return (1.0 - label_smoothing) * nll + label_smoothing * uniform


def scaled_sparse_categorical_crossentropy(y_true, logits, global_batch_size,
                                           label_smoothing=0.0) -> tf.Tensor:
    """Σ_b L_b / N for the N examples of the *global* batch: a scalar, for ``tf.distribute``.

    Each replica sees B = N / R examples; dividing its sum by N (not B) makes the
    gradients summed across the R replicas equal the gradient of the mean over
    the whole batch, which is what one device would compute. Its ops sit in a ``loss``
    name scope: one box in TensorBoard's graph of the training step.
    """
    with tf.name_scope("loss"):
        per_example = sparse_categorical_crossentropy(y_true, logits, from_logits=True,
                                                      label_smoothing=label_smoothing)
        return tf.reduce_sum(per_example) / tf.cast(global_batch_size, per_example.dtype)
