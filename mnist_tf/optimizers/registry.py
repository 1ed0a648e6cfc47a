"""Optimizers by name, as ``--optimizer`` picks them (the optimizer's half of ``model.compile``).

``get("adam", learning_rate=1e-3)`` is ``keras.optimizers.Adam(learning_rate=1e-3)``;
every argument not given keeps Keras's default.
"""

from mnist_tf.optimizers import schedules
from mnist_tf.optimizers.adam import Adam
from mnist_tf.optimizers.adamw import AdamW
from mnist_tf.optimizers.sgd import SGD

OPTIMIZERS = ("adam", "adamw", "sgd", "momentum")
SCHEDULES = ("constant", "exponential", "cosine", "one_cycle")


def get(name: str, learning_rate, momentum: float = 0.9, weight_decay: float = 0.004):
    """The optimizer ``name`` names.

    Args:
      name: ``adam``; ``adamw`` (Adam with decoupled ``weight_decay``); ``sgd``
        (plain); ``momentum`` (SGD with ``momentum``).
      learning_rate: η, a float or a schedule (a callable of the int64 step).
      momentum: used by ``momentum`` only.
      weight_decay: λ, used by ``adamw`` only (Keras's default 0.004).

    Raises:
      ValueError: an unknown name, listing the known ones.
    """
    if name == "adam":
        return Adam(learning_rate=learning_rate)
    if name == "adamw":
        return AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
    if name == "momentum":
        return SGD(learning_rate=learning_rate, momentum=momentum)
    if name == "sgd":
        return SGD(learning_rate=learning_rate)
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")


def schedule(name: str, learning_rate: float, total_steps: int, warmup_steps: int = 0,
             decay_rate: float = 0.1):
    """The learning rate as a function of the step, by name.

    Args:
      name: ``constant`` (η throughout); ``exponential`` (η · decay_rate^(step /
        total_steps): ``decay_rate`` by the end); ``cosine`` (linear warm-up from 0 to
        η over ``warmup_steps``, then a cosine to 0 at ``total_steps``);
        ``one_cycle`` (linear from 0 up to η at ``warmup_steps``, linear down to 0 at
        ``total_steps``).
      learning_rate: η, the peak.
      total_steps: the run's training steps.
      warmup_steps: see ``cosine`` and ``one_cycle``.
      decay_rate: see ``exponential``.

    Returns:
      A float (``constant``) or a schedule of ``mnist_tf.optimizers.schedules``.
    """
    if name == "constant":
        return learning_rate
    if name == "exponential":
        return schedules.ExponentialDecay(learning_rate, total_steps, decay_rate)
    if name == "cosine":
        if not warmup_steps:
            return schedules.CosineDecay(learning_rate, total_steps)
        return schedules.CosineDecay(0.0, total_steps - warmup_steps, warmup_target=learning_rate,
                                     warmup_steps=warmup_steps)
    if name == "one_cycle":
        peak_at = max(1, min(warmup_steps, total_steps - 1))
        return schedules.PiecewiseLinear((0, peak_at, total_steps), (0.0, learning_rate, 0.0))
    raise ValueError(f"unknown learning-rate schedule {name!r}; known: {', '.join(SCHEDULES)}")
