"""Small learnable stand-ins for MNIST, for tests of the training code."""

import os
import pathlib

import numpy as np

from tensorboard.backend.event_processing import event_accumulator

from mnist_tf.data import MnistArrays

SMALL = (2000, 1000)  # training and test digits of conftest's small_mnist_env (real MNIST)


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


def step_graph_functions(train_dir: str) -> list:
    """The node names of each function in the training step's graph, as TensorBoard's Graphs
    dashboard reads it from the run's ``train/`` events (a GraphDef and its library), without
    the ``steps/`` scope of the loop that runs ``steps_per_loop`` steps per call."""
    accumulator = event_accumulator.EventAccumulator(train_dir)
    accumulator.Reload()
    graph = accumulator.Graph()  # raises ValueError when the run has no graph
    return [[node.name.removeprefix("steps/") for node in function.node_def]
            for function in graph.library.function]


def weights(model_or_logdir) -> list:
    """A model's trainable weights as numpy arrays; a path: those of the run saved there."""
    if isinstance(model_or_logdir, (str, os.PathLike)):
        from mnist_tf.runs import saved_runs

        model_or_logdir, _ = saved_runs.load_model(str(model_or_logdir))
    return [v.numpy() for v in model_or_logdir.trainable_variables]


def randomize_batch_norm(model, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters in every BatchNormalization of ``model``,
    so that a comparison with a Keras twin exercises them (fresh ones are 0, 1, 1, 0)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if hasattr(layer, "moving_mean"):
            layer.moving_mean.assign(rng.standard_normal(layer.moving_mean.shape) * 0.1)
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape))
            layer.beta.assign(rng.standard_normal(layer.beta.shape) * 0.1)


def data_env(directory, data) -> dict:
    """The environment in which a binary loads ``data`` (``MnistArrays``) as MNIST: an empty
    cache (``$MNIST_TF_DATA``), then Keras's cache ``$KERAS_HOME/datasets/mnist.npz`` holding
    ``data``, the source chain's third source (``mnist_tf.data.sources``)."""
    directory = pathlib.Path(directory)
    (directory / "keras_home" / "datasets").mkdir(parents=True, exist_ok=True)
    np.savez(directory / "keras_home" / "datasets" / "mnist.npz", **data._asdict())
    return {"KERAS_HOME": str(directory / "keras_home"),
            "MNIST_TF_DATA": str(directory / "no_cache")}


class Log(list):
    def __call__(self, line):
        self.append(line)

    def text(self):
        return "\n".join(self)


def scalar_steps(run_dir):
    """{tag: [steps]} of every scalar (tensor) event in a run, duplicates kept."""
    accumulator = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.TENSORS: 0,
                                     event_accumulator.HISTOGRAMS: 0,
                                     event_accumulator.IMAGES: 0},
        purge_orphaned_data=False)
    accumulator.Reload()
    return {tag: [event.step for event in accumulator.Tensors(tag)]
            for tag in accumulator.Tags()["tensors"]}
