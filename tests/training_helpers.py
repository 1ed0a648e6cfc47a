"""Small learnable stand-ins for MNIST, for tests of the training code."""

import os

import numpy as np

from mnist_tf.data import MnistArrays


def synthetic_mnist(n_train: int = 512, n_test: int = 128, seed: int = 0) -> MnistArrays:
    """Digits a convnet learns in a few steps: class k is a bright bar at row 2k+4, plus noise."""
    rng = np.random.default_rng(seed)

    def make(n):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for image, label in zip(images, labels):
            image[2 * label + 4: 2 * label + 6, 4:24] = 255
        return images, labels

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    return MnistArrays(x_train, y_train, x_test, y_test)


def weights(model_or_logdir) -> list:
    """A model's trainable weights as numpy arrays; a path: those of the run saved there."""
    if isinstance(model_or_logdir, (str, os.PathLike)):
        from mnist_tf.training import saved_runs

        model_or_logdir, _ = saved_runs.load_model(str(model_or_logdir))
    return [v.numpy() for v in model_or_logdir.trainable_variables]
