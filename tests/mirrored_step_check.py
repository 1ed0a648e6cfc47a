"""Run in a fresh process (logical devices must be set before TensorFlow starts):
one MirroredStrategy training step on 2 logical CPUs vs one single-device step
on the same global batch. Prints the largest variable difference as JSON."""

import json
import sys

import mnist_tf  # noqa: F401
import numpy as np
import tensorflow as tf

from mnist_tf import distribute, models
from mnist_tf.optimizers import Adam
from mnist_tf.training.steps import make_train_step


def trained_variables(strategy, images, labels, steps):
    scope = strategy.scope() if strategy else tf.distribute.get_strategy().scope()
    with scope:
        model = models.keras_example_cnn(seed=3, dropout_rate=0.0)
        models.build(model)
        optimizer = Adam(1e-3)
        optimizer.build(model.trainable_variables)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(len(labels) // steps)
    if strategy:
        dataset = strategy.experimental_distribute_dataset(dataset)
        step = make_train_step(model, optimizer, strategy, input_signature=dataset.element_spec)
    else:
        step = make_train_step(model, optimizer)
    for x, y in dataset:
        step(x, y)
    return [v.numpy() for v in model.trainable_variables]


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    strategy = distribute.make_strategy("mirrored", num_cpu_devices=2)
    rng = np.random.default_rng(0)
    images = rng.random((64 * steps, 28, 28, 1), dtype=np.float32)
    labels = rng.integers(0, 10, 64 * steps).astype(np.int32)
    mirrored = trained_variables(strategy, images, labels, steps)
    single = trained_variables(None, images, labels, steps)
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(mirrored, single))
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "max_difference": difference}))


if __name__ == "__main__":
    main()
