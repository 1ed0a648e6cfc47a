"""Attributions on the input: which pixels move the class score z_c, five ways.

All five are built from the hand-written backward of ``passes.forward_backward``
(no ``tf.GradientTape``), for images x [B, 28, 28, 1] and classes c [B]; each
returns a map of x's shape (Grad-CAM: [B, h, w] of the last conv layer).

* **Saliency** (Simonyan et al. 2014): S(x) = ∂z_c/∂x.
* **Gradient × input** (Shrikumar et al. 2016): G(x) = x ⊙ ∂z_c/∂x.
* **SmoothGrad** (Smilkov et al. 2017): the saliency averaged over n noisy
  copies, SG(x) = (1/n) Σ_{k=1..n} ∂z_c/∂x (x + ε_k), ε_k ~ N(0, σ²); σ = 0 is
  the saliency itself.
* **Integrated gradients** (Sundararajan et al. 2017): the path integral of the
  gradient along the straight line from a baseline x' (black, 0) to x,
  IG(x) = (x − x') ⊙ ∫₀¹ ∂z_c/∂x (x' + α(x − x')) dα, here by the midpoint
  rule with m steps, (x − x') ⊙ (1/m) Σ_{k=1..m} ∂z_c/∂x (x' + ((k − ½)/m)(x − x')).
  Completeness: Σ_pixels IG(x) = z_c(x) − z_c(x'); the midpoint sum's error
  falls about as 1/m² (the paper's right Riemann sum: as 1/m), measured with
  ``completeness_error``.
* **Grad-CAM** (Selvaraju et al. 2017), on the last conv layer's maps A [h, w, K]:
  α_k = (1/hw) Σ_{i,j} ∂z_c/∂A_{ijk},  CAM = relu(Σ_k α_k A_k)  [h, w]
  (``upsample`` brings it to 28×28 to lay over the digit).
"""

import tensorflow as tf

from mnist_tf.explain import passes

SMOOTHGRAD_SAMPLES = 25   # n: Smilkov et al. find 20-50 enough for a stable map
SMOOTHGRAD_SIGMA = 0.15   # σ in pixel units ([0, 1]): 15% of the range, their suggested 10-20%
IG_STEPS = 50             # m: completeness error well under 1% of z_c(x) − z_c(0) (BUILD_NOTES)


def saliency(model, images, target) -> tf.Tensor:
    """∂z_c/∂x [B, 28, 28, 1]."""
    return passes.forward_backward(model, images, target).input_gradient


def gradient_times_input(images, input_gradient) -> tf.Tensor:
    """x ⊙ ∂z_c/∂x [B, 28, 28, 1], from the saliency already computed."""
    return images * input_gradient


def _gradients_at(model, points, target, copies):
    """∂z_c/∂x at ``points`` [B·copies, ...] (image b's copies contiguous) → [B, copies, ...]."""
    repeated_target = tf.repeat(tf.cast(target, tf.int32), copies)
    gradient = passes.forward_backward(model, points, repeated_target).input_gradient
    return per_image(gradient, copies)


def per_image(gradients, copies):
    """[B·copies, ...] → [B, copies, ...]."""
    return tf.reshape(gradients, tf.concat([[-1, copies], tf.shape(gradients)[1:]], 0))


def smoothgrad_points(images, samples=SMOOTHGRAD_SAMPLES, sigma=SMOOTHGRAD_SIGMA, seed=(0, 0)):
    """The n noisy copies x + ε_k of each image, [B·n, 28, 28, 1] (image b's contiguous).

    The same n draws ε_1..ε_n for every image of the batch, so an image's map does not
    depend on which other images share its batch."""
    copies = tf.repeat(images, samples, axis=0)
    noise = tf.random.stateless_normal(tf.concat([[samples], tf.shape(images)[1:]], 0), seed,
                                       dtype=images.dtype)
    tiles = tf.concat([[tf.shape(images)[0]], tf.ones([tf.rank(images) - 1], tf.int32)], 0)
    return copies + tf.cast(sigma, images.dtype) * tf.tile(noise, tiles)


def smoothgrad(model, images, target, samples=SMOOTHGRAD_SAMPLES, sigma=SMOOTHGRAD_SIGMA,
               seed=(0, 0)) -> tf.Tensor:
    """(1/n) Σ_k ∂z_c/∂x (x + ε_k), ε_k ~ N(0, σ²) [B, 28, 28, 1].

    Args:
      samples: n, the noisy copies per image.
      sigma: σ of the noise, in pixel units (x in [0, 1]); 0 gives the saliency.
      seed: the stateless seed of the noise (a pair of ints): the same seed, the same map.
    """
    images = tf.convert_to_tensor(images)
    points = smoothgrad_points(images, samples, sigma, seed)
    return tf.reduce_mean(_gradients_at(model, points, target, samples), axis=1)


def _baseline(images, baseline):
    return tf.zeros_like(images) if baseline is None else tf.cast(baseline, images.dtype)


def path_points(images, steps=IG_STEPS, baseline=None):
    """x' + ((k − ½)/m)(x − x') for k = 1..m, [B·m, 28, 28, 1] (image b's contiguous)."""
    baseline = _baseline(images, baseline)
    alphas = (tf.range(steps, dtype=images.dtype) + 0.5) / tf.cast(steps, images.dtype)
    shape = tf.concat([[1, -1], tf.ones([tf.rank(images) - 1], tf.int32)], 0)
    alphas = tf.reshape(alphas, shape)                                # [1, m, 1, 1, 1]
    path = baseline[:, None] + alphas * (images - baseline)[:, None]  # [B, m, 28, 28, 1]
    return tf.reshape(path, tf.concat([[-1], tf.shape(images)[1:]], 0))


def integrated_gradients_from(images, path_gradients, baseline=None):
    """(x − x') ⊙ the mean of ``path_gradients`` [B, m, 28, 28, 1] over the m points."""
    return (images - _baseline(images, baseline)) * tf.reduce_mean(path_gradients, axis=1)


def integrated_gradients(model, images, target, steps=IG_STEPS, baseline=None) -> tf.Tensor:
    """(x − x') ⊙ (1/m) Σ_{k=1..m} ∂z_c/∂x (x' + ((k − ½)/m)(x − x')) [B, 28, 28, 1].

    Args:
      steps: m, the points of the midpoint sum along the path.
      baseline: x' of x's shape; None → black (zeros), an image with no ink.
    """
    images = tf.convert_to_tensor(images)
    gradients = _gradients_at(model, path_points(images, steps, baseline), target, steps)
    return integrated_gradients_from(images, gradients, baseline)


def completeness_error(model, images, target, attributions, baseline=None) -> tf.Tensor:
    """|Σ_pixels IG(x) − (z_c(x) − z_c(x'))| per image [B]: 0 for the exact integral."""
    images = tf.convert_to_tensor(images)
    gap = (passes.class_scores(model, images, target)
           - passes.class_scores(model, _baseline(images, baseline), target))
    total = tf.reduce_sum(tf.reshape(attributions, [tf.shape(images)[0], -1]), axis=1)
    return tf.abs(total - gap)


def grad_cam(feature_maps, feature_deltas) -> tf.Tensor:
    """relu(Σ_k α_k A_k), α_k = mean_{i,j} ∂z_c/∂A_{ijk}: [B, h, w] from A, δ_A [B, h, w, K]."""
    weights = tf.reduce_mean(feature_deltas, axis=[1, 2], keepdims=True)   # α [B, 1, 1, K]
    return tf.nn.relu(tf.reduce_sum(weights * feature_maps, axis=-1))


def upsample(maps, size=(28, 28)) -> tf.Tensor:
    """[B, h, w] → [B, 28, 28], bilinear: a Grad-CAM map laid over the input."""
    return tf.image.resize(maps[..., None], size, method="bilinear")[..., 0]
