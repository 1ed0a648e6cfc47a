"""Run in a fresh process (logical devices must be set before TensorFlow starts): the library's
``make_train_step`` under MirroredStrategy on 2 logical CPUs against the same step on one
device, for Adam and Nesterov momentum, and with dropout on. Prints a JSON report."""

import json

import numpy as np
import tensorflow as tf

from mnist_tf import distribute, models, optimizers
from mnist_tf.training.steps import make_train_step

STEPS = 2


def train(strategy, make_optimizer, images, labels, dropout_rate=0.0):
    """Trains STEPS steps; returns (weights, iterations, spread between replica copies)."""
    with strategy.scope():
        model = models.build(models.keras_example_cnn(seed=3, dropout_rate=dropout_rate))
        optimizer = make_optimizer()
        optimizer.build(model.trainable_variables)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(len(labels) // STEPS)
    if strategy is tf.distribute.get_strategy():
        step = make_train_step(model, optimizer)
    else:
        dataset = strategy.experimental_distribute_dataset(dataset)
        step = make_train_step(model, optimizer, strategy, input_signature=dataset.element_spec)
    for x, y in dataset:
        step(x, y)
    copies = [strategy.experimental_local_results(v) for v in model.trainable_variables]
    spread = max(float(np.max(np.abs(c[0].numpy() - c[-1].numpy()))) for c in copies)
    return [v.numpy() for v in model.trainable_variables], int(optimizer.iterations.numpy()), spread


def main():
    strategy = distribute.make_strategy("mirrored", num_cpu_devices=2)
    rng = np.random.default_rng(0)
    images = rng.random((64 * STEPS, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 64 * STEPS).astype(np.int32)
    result = {"replicas": strategy.num_replicas_in_sync}
    for name, make in [("adam", lambda: optimizers.Adam(1e-3)),
                       ("nesterov", lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True))]:
        mirrored, steps, spread = train(strategy, make, images, labels)
        single, _, _ = train(tf.distribute.get_strategy(), make, images, labels)
        result[name] = {"steps": steps, "spread": spread, "max_difference": max(
            float(np.max(np.abs(a - b))) for a, b in zip(mirrored, single))}
    _, _, result["dropout_spread"] = train(strategy, lambda: optimizers.Adam(1e-3), images,
                                           labels, dropout_rate=0.5)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
