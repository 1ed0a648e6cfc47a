"""MNIST for mnist_tf: the source chain, the IDX format and the ``tf.data`` input pipeline.

``load()`` returns :class:`MnistArrays` (uint8 images ``[N, 28, 28]``, labels ``[N]``)
from the first source that works (see :mod:`mnist_tf.data.sources`); ``fetch()`` the
directory of the four verified files. The pipeline functions turn the arrays into
batches of ``(float32 [B, 28, 28, 1] in [0, 1], int32 [B])``.
"""

from mnist_tf.data.idx import MnistArrays
from mnist_tf.data.pipeline import (eval_dataset, split_validation, steps_per_epoch, to_float,
                                    train_dataset)
from mnist_tf.data.sources import fetch, load

__all__ = ["MnistArrays", "eval_dataset", "fetch", "load", "split_validation",
           "steps_per_epoch", "to_float", "train_dataset"]
