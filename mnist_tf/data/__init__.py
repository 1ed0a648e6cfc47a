"""MNIST for mnist_tf: the source chain, the IDX format and the ``tf.data`` input pipeline.

``load()`` returns :class:`MnistArrays` (uint8 images ``[N, 28, 28]``, labels ``[N]``)
from the first source that works (see :mod:`mnist_tf.data.sources`); ``fetch()`` the
directory of the four verified files. The pipeline functions turn the arrays into
batches of ``(float32 [B, 28, 28, 1] in [0, 1], int32 [B])``.

The pipeline functions are imported on first use, so fetching data (``bin/download.py``)
does not pay for importing TensorFlow.
"""

import importlib

from mnist_tf.data.idx import MnistArrays
from mnist_tf.data.sources import fetch, load

_PIPELINE = ("eval_dataset", "split_validation", "steps_per_epoch", "to_float", "train_dataset")

__all__ = ["MnistArrays", "fetch", "load", *_PIPELINE]


def __getattr__(name):
    if name in _PIPELINE:
        return getattr(importlib.import_module("mnist_tf.data.pipeline"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
