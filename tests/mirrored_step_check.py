"""The library's ``make_train_step`` under MirroredStrategy on 2 logical CPUs against the same
step on one device, for Adam and Nesterov momentum, under float32 and mixed_float16 loss
scaling, and with dropout on: the weights after each step and the gradients each step returns
(for TensorBoard's histograms). ``report()`` runs it in the test's process, whose CPU
``conftest`` splits into the two logical devices before TensorFlow starts."""

import numpy as np
import tensorflow as tf

from mnist_tf import distribute, models, optimizers, precision
from mnist_tf.training.step import make_train_step

STEPS = 2


def train(strategy, make_optimizer, images, labels, dropout_rate=0.0, policy="float32"):
    """Trains STEPS steps; returns (weights, iterations, spread between replica copies,
    the gradients of the last step)."""
    with strategy.scope():
        model = models.build(precision.set_policy(
            models.keras_example_cnn(seed=3, dropout_rate=dropout_rate), policy))
        optimizer = make_optimizer()
        if precision.get(policy).needs_loss_scaling:
            optimizer = optimizers.LossScaleOptimizer(optimizer, initial_scale=1024.0)
        optimizer.build(model.trainable_variables)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(len(labels) // STEPS)
    if strategy is tf.distribute.get_strategy():
        step = make_train_step(model, optimizer)
    else:
        dataset = strategy.experimental_distribute_dataset(dataset)
        step = make_train_step(model, optimizer, strategy, input_signature=dataset.element_spec)
    for x, y in dataset:
        gradients = step(x, y)["gradients"]
    copies = [strategy.experimental_local_results(v) for v in model.trainable_variables]
    spread = max(float(np.max(np.abs(c[0].numpy() - c[-1].numpy()))) for c in copies)
    return ([v.numpy() for v in model.trainable_variables], int(optimizer.iterations.numpy()),
            spread, [g.numpy() for g in gradients])


def largest_difference(a, b) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def report() -> dict:
    """{"replicas", one entry per optimizer and policy: {"steps", "spread", "max_difference",
    "gradient_difference", "gradient_scale"}, "dropout_spread"}."""
    strategy = distribute.make_strategy("mirrored", num_cpu_devices=2)
    rng = np.random.default_rng(0)
    images = rng.random((64 * STEPS, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 64 * STEPS).astype(np.int32)
    result = {"replicas": strategy.num_replicas_in_sync}
    adam = lambda: optimizers.Adam(1e-3)  # noqa: E731
    # float16: half the images (oneDNN's float16 convolution gradients are slow on CPUs)
    for name, make, policy, n in [
            ("adam", adam, "float32", len(labels)),
            ("nesterov", lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True), "float32",
             len(labels)),
            ("adam_mixed_float16", adam, "mixed_float16", len(labels) // 2)]:
        mirrored, steps, spread, mirrored_grads = train(strategy, make, images[:n], labels[:n],
                                                        policy=policy)
        single, _, _, single_grads = train(tf.distribute.get_strategy(), make, images[:n],
                                           labels[:n], policy=policy)
        result[name] = {"steps": steps, "spread": spread,
                        "max_difference": largest_difference(mirrored, single),
                        "gradient_difference": largest_difference(mirrored_grads, single_grads),
                        "gradient_scale": max(float(np.max(np.abs(g))) for g in single_grads)}
    result["dropout_spread"] = train(strategy, adam, images, labels, dropout_rate=0.5)[2]
    return result
