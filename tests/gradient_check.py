"""Central finite differences in float64, shared by the gradient tests (tape and hand-written).

For f(θ) = Σ out·r with r fixed and random, each sampled coordinate θ_i must satisfy
∂f/∂θ_i ≈ (f(θ + h e_i) − f(θ − h e_i)) / 2h, the central difference (error O(h²)).
"""

import numpy as np
import tensorflow as tf

H = 1e-6
SAMPLES = 12  # coordinates checked per tensor


def check_gradients(fn, tensors, seed=0, gradients=None):
    """Compares the gradients of Σ fn()·r with central differences on sampled coordinates.

    Args:
      fn: () → a float64 tensor, reading ``tensors`` (tf.Variables).
      tensors: the variables to perturb.
      seed: picks r and the coordinates.
      gradients: ``r → [∂(Σ fn()·r)/∂t for t in tensors]``, the gradients to check
        (a hand-written backward fed δ = r); None → the tape's.
    """
    rng = np.random.default_rng(seed)
    r = tf.constant(rng.standard_normal(fn().shape), tf.float64)

    def objective():
        return float(tf.reduce_sum(fn() * r))

    if gradients is None:
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(fn() * r)
        grads = tape.gradient(value, tensors)
    else:
        grads = gradients(r)
    for tensor, grad in zip(tensors, grads):
        grad = tf.convert_to_tensor(grad).numpy().ravel()
        flat = tensor.numpy().ravel()
        for i in rng.choice(flat.size, min(SAMPLES, flat.size), replace=False):
            numeric = []
            for step in (H, -H):
                shifted = flat.copy()
                shifted[i] += step
                tensor.assign(shifted.reshape(tensor.shape))
                numeric.append(objective())
            tensor.assign(flat.reshape(tensor.shape))
            slope = (numeric[0] - numeric[1]) / (2 * H)
            assert abs(slope - grad[i]) <= 1e-6 * max(1.0, abs(slope)), (tensor.name, i)
