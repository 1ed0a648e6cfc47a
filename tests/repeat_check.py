"""Run in a fresh process (logical devices are set before TensorFlow starts): the same run three
times under MirroredStrategy on 2 logical CPUs — twice as it is, once more with TensorFlow's op
determinism on — in logdirs under ``argv[1]``. Prints a JSON report: whether each later run
ended bit-identical to the first (weights and metrics.json figures)."""

import json
import os
import sys

import tensorflow as tf

from mnist_tf import distribute
from mnist_tf.training.config import TrainConfig
from mnist_tf.training.loop import train_and_evaluate
from same_run import figures, weights
from training_helpers import synthetic_mnist

CONFIG = TrainConfig(epochs=2, batch_size=32, steps_per_epoch=6, log_every=3, export=False)


def main(root):
    strategy = distribute.make_strategy("mirrored", num_cpu_devices=2)
    data = synthetic_mnist()
    runs = {}
    for name in ("first", "second", "deterministic"):
        if name == "deterministic":
            tf.config.experimental.enable_op_determinism()
        logdir = os.path.join(root, name)
        metrics = train_and_evaluate(CONFIG, logdir, data=data, strategy=strategy,
                                     log=lambda line: None)
        runs[name] = (weights(logdir), figures(metrics))
    first_weights, first_figures = runs["first"]
    report = {"replicas": strategy.num_replicas_in_sync}
    for name in ("second", "deterministic"):
        w, f = runs[name]
        report[name] = {"weights": all(a.tobytes() == b.tobytes()
                                       for a, b in zip(w, first_weights, strict=True)),
                        "figures": f == first_figures}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
