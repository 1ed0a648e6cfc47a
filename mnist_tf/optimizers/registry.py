"""Optimizers by name, as ``--optimizer`` picks them (the optimizer's half of ``model.compile``).

``get("adam", learning_rate=1e-3)`` is ``keras.optimizers.Adam(learning_rate=1e-3)``;
every argument not given keeps Keras's default.
"""

from mnist_tf.optimizers.adam import Adam
from mnist_tf.optimizers.sgd import SGD

OPTIMIZERS = ("adam", "sgd", "momentum")


def get(name: str, learning_rate, momentum: float = 0.9):
    """The optimizer ``name`` names.

    Args:
      name: ``adam``; ``sgd`` (plain); ``momentum`` (SGD with ``momentum``).
      learning_rate: η, a float or a schedule (a callable of the int64 step).
      momentum: used by ``momentum`` only.

    Raises:
      ValueError: an unknown name, listing the known ones.
    """
    if name == "adam":
        return Adam(learning_rate=learning_rate)
    if name == "momentum":
        return SGD(learning_rate=learning_rate, momentum=momentum)
    if name == "sgd":
        return SGD(learning_rate=learning_rate)
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
