"""mnist_tf.explain: every δ and attribution against tf.GradientTape (float64) or its axiom."""

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import explain, models
from mnist_tf.explain import attributions, passes

ROUND_OFF = 1e-12  # relative, float64


def _model(name="keras_example_cnn"):
    model = models.get(name, seed=1)
    model(tf.zeros([1, 28, 28, 1], tf.float64))
    return model


def _images(n=3, seed=0):
    return tf.constant(np.random.default_rng(seed).random((n, 28, 28, 1)), tf.float64)


def _tape_deltas(model, images, target):
    """∂z_c/∂y_l for every layer output y_l, and ∂z_c/∂x, by the tape."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        outputs, x = [], images
        for layer in passes.flat_layers(model):
            x = layer(x, training=False)
            outputs.append(x)
        score = tf.reduce_sum(tf.gather(x, target, axis=1, batch_dims=1))
    gradients = tape.gradient(score, outputs + [images])
    return outputs, gradients[:-1], gradients[-1]


def _relative(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("name", ["keras_example_cnn", "keras_example_cnn_bn", "bn_cnn"])
def test_every_delta_and_the_input_gradient_equal_the_tapes(name):
    model, images = _model(name), _images()
    target = tf.constant([3, 0, 9])
    kept = passes.forward_backward(model, images, target)
    outputs, deltas, input_gradient = _tape_deltas(model, images, target)
    assert len(kept.deltas) == len(deltas) == len(passes.flat_layers(model))
    for name_, ours, theirs, y, y_tape in zip(kept.names, kept.deltas, deltas, kept.outputs,
                                              outputs):
        assert _relative(y, y_tape) == 0.0, name_
        assert _relative(ours, theirs) <= ROUND_OFF, name_
    assert _relative(kept.input_gradient, input_gradient) <= ROUND_OFF
    assert np.array_equal(kept.target, target)


def test_no_target_means_the_predicted_class():
    model, images = _model(), _images()
    kept = passes.forward_backward(model, images)
    assert np.array_equal(kept.target, np.argmax(model(images), axis=-1))


def test_grad_cam_equals_the_formula_on_tape_gradients():
    model, images = _model(), _images()
    target = tf.constant([1, 4, 7])
    ours = explain.explain(model, images, target, ig_steps=2, samples=2)
    outputs, deltas, _ = _tape_deltas(model, images, target)
    conv = passes.last_conv_name(model)
    assert conv == "conv2d_1"
    i = [layer.name for layer in passes.flat_layers(model)].index(conv)
    a, da = outputs[i].numpy(), deltas[i].numpy()
    alpha = da.mean(axis=(1, 2))                                 # [B, K]
    cam = np.maximum(np.einsum("bijk,bk->bij", a, alpha), 0)     # [B, 11, 11]
    assert cam.max() > 0
    assert _relative(ours.grad_cam, cam) <= ROUND_OFF


def test_smoothgrad_with_sigma_zero_is_the_saliency():
    model, images = _model(), _images()
    target = tf.constant([2, 2, 5])
    smooth = attributions.smoothgrad(model, images, target, samples=4, sigma=0.0)
    assert _relative(smooth, attributions.saliency(model, images, target)) <= ROUND_OFF
    noisy = attributions.smoothgrad(model, images, target, samples=4, sigma=0.15)
    assert _relative(noisy, smooth) > 1e-3  # the noise does change it


def test_integrated_gradients_completeness_error_shrinks_with_m(trained_run, mnist):
    """Σ IG = z_c(x) − z_c(0) up to the Riemann sum's error, which falls as m grows."""
    from mnist_tf.runs import saved_runs

    model, _ = saved_runs.load_model(trained_run.logdir)
    images = tf.constant(mnist.x_test[:8, ..., None] / 255.0, tf.float32)
    target = tf.argmax(model(images), axis=-1, output_type=tf.int32)
    gap = np.abs(passes.class_scores(model, images, target).numpy()
                 - passes.class_scores(model, tf.zeros_like(images), target).numpy())
    errors = {}
    for m in (5, 20, 50):
        ig = attributions.integrated_gradients(model, images, target, m)
        errors[m] = float(np.mean(
            attributions.completeness_error(model, images, target, ig).numpy() / gap))
    assert errors[5] > errors[20] > errors[50], errors
    assert errors[50] < 0.05, errors  # within 5% of z_c(x) − z_c(0) at the default m
