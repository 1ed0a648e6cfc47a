"""Everything the pictures show, for a batch of digits, in one call: :func:`explain`.

``explain(model, images, target)`` runs ``passes.forward_backward`` and the
five ``attributions`` and returns an :class:`Explanation` of NumPy arrays
(batch first). :class:`Explainer` is the same computation compiled once per
model as a ``tf.function`` (what ``bin/serve.py`` calls per request: one graph
call instead of a few hundred eager ops).

Shapes per image (reference CNN): ``outputs[l]`` and ``deltas[l]`` as listed in
``passes``; ``probabilities`` [10] = softmax(z); the attribution maps [28, 28];
``grad_cam`` [11, 11] (the last conv's grid) and ``grad_cam_28`` [28, 28].
"""

import dataclasses

import numpy as np
import tensorflow as tf

from mnist_tf.explain import attributions, passes

FIELDS = ("saliency", "gradient_times_input", "smoothgrad", "integrated_gradients")


@dataclasses.dataclass
class Explanation:
    """One :func:`explain` result (NumPy arrays, batch first)."""

    names: list                 # layer names, input to output
    outputs: list               # y_l [B, ...]
    deltas: list                # δ_l = ∂z_c/∂y_l [B, ...]
    logits: np.ndarray          # z [B, C]
    probabilities: np.ndarray   # softmax(z) [B, C]
    target: np.ndarray          # c [B]
    saliency: np.ndarray        # ∂z_c/∂x [B, 28, 28]
    gradient_times_input: np.ndarray
    smoothgrad: np.ndarray
    integrated_gradients: np.ndarray
    completeness_error: np.ndarray  # |Σ IG − (z_c(x) − z_c(0))| [B]
    grad_cam: np.ndarray        # [B, h, w]
    grad_cam_28: np.ndarray     # [B, 28, 28]
    last_conv: str              # Grad-CAM's layer
    images: np.ndarray          # x [B, 28, 28] as the net saw it

    def digit(self, b: int) -> int:
        return int(np.argmax(self.probabilities[b]))


def _compute(model, images, target, ig_steps, samples, sigma, seed):
    """The tensors of an :class:`Explanation`; ``target`` < 0 means the predicted class.

    One forward-backward over one batch holding the images, their SmoothGrad
    copies and their integrated-gradients path (one graph, not three).
    """
    predicted = tf.argmax(model(images, training=False), axis=-1, output_type=tf.int32)
    target = tf.where(target < 0, predicted, tf.cast(target, tf.int32))
    b = tf.shape(images)[0]
    batch = tf.concat([images, attributions.smoothgrad_points(images, samples, sigma, seed),
                       attributions.path_points(images, ig_steps)], 0)
    targets = tf.concat([target, tf.repeat(target, samples), tf.repeat(target, ig_steps)], 0)
    everything = passes.forward_backward(model, batch, targets)
    kept = passes.Pass(everything.names, [y[:b] for y in everything.outputs],
                       [d[:b] for d in everything.deltas], everything.input_gradient[:b],
                       everything.logits[:b], target)
    noisy, path = tf.split(everything.input_gradient[b:], [b * samples, b * ig_steps])
    conv = passes.last_conv_name(model)
    cam = attributions.grad_cam(kept.output(conv), kept.delta(conv))
    ig = attributions.integrated_gradients_from(images, attributions.per_image(path, ig_steps))
    return {
        "outputs": kept.outputs, "deltas": kept.deltas, "logits": kept.logits,
        "probabilities": tf.nn.softmax(kept.logits), "target": target,
        "saliency": kept.input_gradient,
        "gradient_times_input": attributions.gradient_times_input(images, kept.input_gradient),
        "smoothgrad": tf.reduce_mean(attributions.per_image(noisy, samples), axis=1),
        "integrated_gradients": ig,
        "completeness_error": attributions.completeness_error(model, images, target, ig),
        "grad_cam": cam, "grad_cam_28": attributions.upsample(cam),
    }


def _to_explanation(model, images, values) -> Explanation:
    numpy = {k: (v.numpy() if isinstance(v, tf.Tensor) else v) for k, v in values.items()}
    for name in FIELDS:
        numpy[name] = numpy[name][..., 0]
    return Explanation(
        names=[layer.name for layer in passes.flat_layers(model)],
        outputs=[o.numpy() for o in values["outputs"]],
        deltas=[d.numpy() for d in values["deltas"]],
        last_conv=passes.last_conv_name(model),
        images=np.asarray(images)[..., 0],
        **{k: v for k, v in numpy.items() if k not in ("outputs", "deltas")})


def _target_tensor(target, batch):
    if target is None:
        return tf.fill([batch], -1)
    return tf.cast(tf.reshape(tf.convert_to_tensor(target), [-1]), tf.int32)


def explain(model, images, target=None, ig_steps=attributions.IG_STEPS,
            samples=attributions.SMOOTHGRAD_SAMPLES, sigma=attributions.SMOOTHGRAD_SIGMA,
            seed=(0, 0)) -> Explanation:
    """Forward, every δ, and the five attributions of ``images`` [B, 28, 28, 1] (eager).

    Args:
      target: class ids [B]; None (or −1 in a row) → the predicted class.
      ig_steps, samples, sigma, seed: see ``attributions.integrated_gradients`` and
        ``attributions.smoothgrad``.
    """
    images = tf.convert_to_tensor(images)
    values = _compute(model, images, _target_tensor(target, images.shape[0]), ig_steps,
                      samples, sigma, seed)
    return _to_explanation(model, images, values)


class Explainer:
    """``explainer(images float32 [B, 28, 28, 1], target=None) → Explanation``, compiled once.

    The settings are fixed at construction, so one graph serves every call
    (images of any batch size B).
    """

    def __init__(self, model, ig_steps=attributions.IG_STEPS,
                 samples=attributions.SMOOTHGRAD_SAMPLES, sigma=attributions.SMOOTHGRAD_SIGMA,
                 seed=(0, 0)):
        self.model = model

        @tf.function(autograph=False,
                     input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32),
                                      tf.TensorSpec([None], tf.int32)])
        def compute(images, target):
            return _compute(model, images, target, ig_steps, samples, sigma, seed)

        self._compute = compute

    def __call__(self, images, target=None) -> Explanation:
        images = tf.convert_to_tensor(images, tf.float32)
        values = self._compute(images, _target_tensor(target, images.shape[0]))
        return _to_explanation(self.model, images, values)
