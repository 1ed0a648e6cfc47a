"""A reference CNN trained briefly on the real MNIST, shared by the export and predict tests.

Import the fixtures into a test module (``from trained_model import mnist,
trained_run``). Each module that imports them gets its own copy of the
fixture, so the run itself is cached here, once per test session.
"""

import dataclasses
import os

import numpy as np
import pytest

EPOCHS = 4        # full epochs (422 steps each), Adam 1e-3, batch 128: ~98.9% on the test set
PNG_DIGITS = 1000  # test digits per PNG variant (98% = at most 20 wrong)

_CACHE = {}


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    logdir: str
    export_dir: str
    metrics: dict
    predictor: object  # uint8 [N, 28, 28] → probabilities [N, 10], from the SavedModel


def load_mnist():
    if "mnist" not in _CACHE:
        from mnist_tf.data import sources

        _CACHE["mnist"] = sources.load()
    return _CACHE["mnist"]


def train(logdir: str) -> TrainedRun:
    from mnist_tf import export
    from mnist_tf.training import TrainConfig, train_and_evaluate

    config = TrainConfig(epochs=EPOCHS, log_every=100, export=True)
    metrics = train_and_evaluate(config, logdir, data=load_mnist(), log=lambda *_: None,
                                 export_fn=export.export_saved_model)
    export_dir = os.path.join(logdir, "export")
    return TrainedRun(logdir, export_dir, metrics, export.load_predictor(export_dir))


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST arrays (``MnistArrays``, uint8)."""
    return load_mnist()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> TrainedRun:
    """The run: its logdir (checkpoints, config.json), its SavedModel and a predictor."""
    if "run" not in _CACHE:
        _CACHE["run"] = train(str(tmp_path_factory.mktemp("trained_run")))
    return _CACHE["run"]


def accuracy(predictor, images, labels) -> float:
    return float(np.mean(predictor(images).argmax(-1) == np.asarray(labels)))
