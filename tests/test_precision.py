"""Dtype policies: the layers' casts, the reference CNN against Keras under each mixed policy,
and the CPU's bfloat16 note."""

import math

import mnist_tf  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf
from keras_oracle import twins as keras_twins

from mnist_tf import layers, losses, models, precision
from mnist_tf.optimizers import Adam, LossScaleOptimizer

MIXED = ["mixed_bfloat16", "mixed_float16"]
# Unit roundoff u = 2^-(significant bits): the relative error of one rounding.
UNIT_ROUNDOFF = {"mixed_bfloat16": 2.0 ** -8, "mixed_float16": 2.0 ** -11}


def _batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 28, 28, 1), dtype=np.float32),
            rng.integers(0, 10, n).astype(np.int32))


def _ours(policy, seed=0):
    return models.build(precision.set_policy(models.get("keras_example_cnn", seed=seed), policy))


def _logits_and_gradients(model, variables, images, labels):
    """The step's forward and backward, as the training step must write them."""
    with tf.GradientTape() as tape:
        logits = model(images, training=False)
        loss = tf.reduce_mean(losses.sparse_categorical_crossentropy(
            labels, precision.cast_logits(logits), True))
    return logits, tape.gradient(loss, variables)


def test_policies():
    bf16 = precision.Policy("mixed_bfloat16")
    assert (bf16.compute_dtype, bf16.variable_dtype) == (tf.bfloat16, tf.float32)
    assert precision.get("mixed_float16").compute_dtype == tf.float16
    assert precision.get(bf16) is bf16
    assert precision.get("mixed_float16").needs_loss_scaling and not bf16.needs_loss_scaling
    with pytest.raises(ValueError, match="unknown precision policy 'mixed_int8'; known: float32"):
        precision.Policy("mixed_int8")


@pytest.mark.parametrize("policy", MIXED)
def test_layers_compute_in_the_compute_dtype_and_keep_float32_variables(policy):
    model = _ours(policy)
    compute = precision.get(policy).compute_dtype
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    x, _ = _batch(2)
    for layer in model.layers:  # MaxPool2D and Flatten pass the compute dtype through
        x = layer(x, training=True)
        assert x.dtype == compute, layer.name
    dropout = model.layers[5]
    y = dropout(tf.ones([4, 100], compute), training=True)
    assert y.dtype == compute and set(np.unique(y.numpy().astype(np.float32))) <= {0.0, 2.0}


def test_integer_inputs_are_not_cast():
    layer = precision.set_policy(layers.Flatten(), "mixed_bfloat16")
    assert layer(tf.ones([2, 3, 3], tf.int32)).dtype == tf.int32


def test_without_a_policy_nothing_is_cast():
    layer = layers.Dense(3, seed=0)
    out = layer(tf.ones([2, 4], tf.float64))
    assert layer.dtype_policy is None and out.dtype == layer.kernel.dtype == tf.float64
    assert layer.autocast(layer.kernel) is layer.kernel


def test_a_policy_on_a_model_built_in_another_dtype_is_an_error():
    model = models.build(models.get("keras_example_cnn", seed=0))
    precision.set_policy(model, "mixed_bfloat16")  # built in float32: the variables fit
    dense = layers.Dense(2)
    dense(tf.ones([1, 3], tf.float64))
    with pytest.raises(ValueError, match="set the policy before building the model"):
        precision.set_policy(dense, "mixed_float16")


@pytest.fixture(scope="module")
def float32_run():
    model = _ours("float32")
    return _logits_and_gradients(model, model.trainable_variables, *_batch())


@pytest.mark.parametrize("policy", MIXED)
def test_logits_and_gradients_equal_keras_under_the_policy(policy, float32_run):
    """Keras casts the input and the variables at each layer exactly where we do.

    Measured (batch 16): logits and kernel gradients bit-identical under both
    policies. The bias gradients differ: Keras adds a bias with ``tf.nn.bias_add``,
    whose gradient (BiasAddGrad) sums δ over the n = B·H·W positions in the
    compute dtype; ours adds it with ``+``, whose gradient is a ``reduce_sum``, which
    for bfloat16 accumulates in float32 and rounds once. A sum rounded
    in the compute dtype errs like √n·u (u = 2⁻⁸ bfloat16, 2⁻¹¹ float16), so the
    tolerance is √n·u·max|g| (n = 10,816 for conv1: 2.5e-2 in bfloat16 where
    3.7e-3 was measured; float16 3.1e-3 vs 6.4e-4). Ours is the more accurate
    sum (the next test).
    """
    images, labels = _batch()
    ours = _ours(policy)
    theirs = keras_twins.make_twin("keras_example_cnn", policy=policy)
    assert theirs.layers[0].compute_dtype == precision.get(policy).compute_dtype.name
    keras_twins.copy_weights(ours, theirs)
    logits, grads = _logits_and_gradients(ours, ours.trainable_variables, images, labels)
    k_logits, k_grads = _logits_and_gradients(
        theirs, [w.value for w in theirs.trainable_weights], images, labels)
    assert logits.dtype == k_logits.dtype == precision.get(policy).compute_dtype
    np.testing.assert_array_equal(logits.numpy(), k_logits.numpy())
    positions = [16 * 26 * 26, 16 * 11 * 11, 16]  # n of each layer's bias sum
    for i, (g, k_g, variable) in enumerate(zip(grads, k_grads, ours.trainable_variables)):
        assert g.dtype == k_g.dtype == tf.float32
        if variable.name.endswith("kernel:0"):
            np.testing.assert_array_equal(g.numpy(), k_g.numpy())
        else:
            tolerance = math.sqrt(positions[i // 2]) * UNIT_ROUNDOFF[policy] * np.max(np.abs(g))
            np.testing.assert_allclose(g, k_g, rtol=0, atol=tolerance)

    # Against the float32 model: a few roundings of u each. Measured 1.2e-3 (bfloat16) and
    # 1.4e-4 (float16) on logits of at most 0.22; tolerance 8·u·max|z|.
    f32_logits, _ = float32_run
    scale = np.max(np.abs(f32_logits))
    np.testing.assert_allclose(tf.cast(logits, tf.float32), f32_logits, rtol=0,
                               atol=8 * UNIT_ROUNDOFF[policy] * scale)


@pytest.mark.parametrize("policy", MIXED)
def test_traced_step_with_unknown_batch(policy):
    model = _ours(policy)
    f = tf.function(lambda x: model(x, training=False),
                    input_signature=[tf.TensorSpec([None, 28, 28, 1])])
    for n in (1, 5):
        images, _ = _batch(n, seed=n)
        np.testing.assert_array_equal(f(images).numpy(), model(images).numpy())


@pytest.mark.parametrize("policy", ["float32", *MIXED])
def test_a_few_training_steps_lower_the_loss(policy):
    """The step the training loop must run for a policy: float32 logits, scale_loss, apply."""
    model = _ours(policy, seed=1)
    optimizer = Adam(1e-3)
    if precision.get(policy).needs_loss_scaling:
        optimizer = LossScaleOptimizer(optimizer)
    variables = model.trainable_variables
    images, labels = _batch(8, seed=2)  # float16's convolution gradients are slow on CPUs

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = precision.cast_logits(model(images, training=True))
            loss = tf.reduce_mean(losses.sparse_categorical_crossentropy(labels, logits, True))
            scaled = optimizer.scale_loss(loss)  # inside the tape, or its gradient is None
        grads = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    first = float(step())
    for _ in range(8):
        last = float(step())
    assert last < first
    assert all(v.dtype == tf.float32 for v in variables)
    assert int(optimizer.iterations) == 9


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni
processor\t: 1
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni
"""


def test_native_bfloat16_note():
    assert precision.native_bfloat16_note(CPUINFO) is None
    amx = CPUINFO.replace("avx512_bf16", "amx_bf16 amx_tile")
    assert precision.native_bfloat16_note(amx) is None
    avx2 = "model name\t: Intel Xeon E5-2690 v4\nflags\t\t: fpu sse2 avx2 fma\n"
    note = precision.native_bfloat16_note(avx2)
    assert note.startswith("mixed_bfloat16 will be slower than float32 here")
    assert "Intel Xeon E5-2690 v4" in note and "\n" not in note
    assert "no /proc/cpuinfo" in precision.native_bfloat16_note("")


def test_cpu_note_names_what_each_policy_costs_on_the_cpu():
    fp16 = CPUINFO.replace("avx512_vnni", "avx512_vnni avx512_fp16")
    for onednn_on in (False, True):
        assert precision.cpu_note("float32", CPUINFO, onednn_on=onednn_on) is None
        assert precision.cpu_note("mixed_bfloat16", CPUINFO, onednn_on=onednn_on) is None
        assert "no avx512_fp16" in precision.cpu_note("mixed_float16", CPUINFO,
                                                      onednn_on=onednn_on)
        assert "no /proc/cpuinfo" in precision.cpu_note("mixed_float16", "", onednn_on=onednn_on)
    assert precision.cpu_note("mixed_float16", fp16, onednn_on=False) is None  # Eigen's kernels
    note = precision.cpu_note("mixed_float16", fp16, onednn_on=True)
    assert "--onednn=off" in note and "\n" not in note


def test_cpu_description():
    assert precision.cpu_description(CPUINFO) == (
        "AMD EPYC 9R14; bfloat16/AVX-512 flags: avx512_bf16 avx512_vnni avx512bw avx512f")
    assert precision.cpu_description("flags\t: sse2\n") == (
        "unknown CPU; bfloat16/AVX-512 flags: none")
    assert "bfloat16/AVX-512 flags:" in precision.cpu_description()  # this machine's


def test_bfloat16_bias_gradients_are_nearer_float32_than_keras(mnist):
    """The gradient of our ``y + b`` is a reduce_sum, which accumulates bfloat16 in float32;
    Keras's ``tf.nn.bias_add`` has BiasAddGrad, which on CPU accumulates in bfloat16. On the
    first real batch of 128, against the float32 model's gradients (relative error): measured
    conv1, conv2, dense biases 5.8e-2, 2.9e-2, 2.5e-3 for ours and 7.5e-2, 4.9e-2, 2.1e-2 for
    Keras; the kernels' are the same (bit-identical gradients). (TensorFlow's graph optimizer
    fuses our ``+`` with the convolution and ReLU just as it fuses Keras's ``bias_add``.)"""
    images = tf.constant(mnist.x_train[:128, ..., None].astype(np.float32) / 255.0)
    labels = tf.constant(mnist.y_train[:128].astype(np.int32))
    reference = _ours("float32")
    _, expected = _logits_and_gradients(reference, reference.trainable_variables, images, labels)
    ours = _ours("mixed_bfloat16")
    theirs = keras_twins.copy_weights(
        ours, keras_twins.make_twin("keras_example_cnn", policy="mixed_bfloat16"))
    _, grads = _logits_and_gradients(ours, ours.trainable_variables, images, labels)
    _, k_grads = _logits_and_gradients(
        theirs, [w.value for w in theirs.trainable_weights], images, labels)
    for i, (g, k_g, e) in enumerate(zip(grads, k_grads, expected)):
        if i % 2 == 0:  # kernels
            np.testing.assert_array_equal(g, k_g)
        else:
            ours_error = np.linalg.norm(g - e) / np.linalg.norm(e)
            keras_error = np.linalg.norm(k_g - e) / np.linalg.norm(e)
            assert ours_error < keras_error, (i, ours_error, keras_error)
