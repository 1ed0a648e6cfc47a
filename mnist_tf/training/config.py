"""Every hyperparameter and setting of a training run, in one place.

``bin/train.py`` turns its flags into a :class:`TrainConfig` (the flags' defaults
are read from here, so the two never disagree); the library only ever sees the
config. Defaults are the Keras example's: Adam 1e-3, batch 128, 15 epochs, the
last 10% of the training set held out for validation.
"""

import dataclasses
import math
from typing import Optional

from mnist_tf.errors import CheckpointError, SettingError, first_line
from mnist_tf.models import MODELS
from mnist_tf.optimizers.registry import OPTIMIZERS, SCHEDULES
from mnist_tf.runs import json_files
from mnist_tf.training.step import TRAIN_STEPS

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
GRADIENTS = tuple(TRAIN_STEPS)  # tape, manual


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run's settings. Frozen: nothing changes a config once made."""

    model: str = "keras_example_cnn"
    epochs: int = 15
    batch_size: int = 128            # the global batch: split across replicas under tf.distribute
    learning_rate: float = 1e-3      # the peak, under a schedule
    lr_schedule: str = "constant"    # constant | exponential | cosine | one_cycle
    warmup_steps: int = 0            # cosine: linear warm-up; one_cycle: the step of the peak
    lr_decay_rate: float = 0.1       # exponential: the factor by the last step
    optimizer: str = "adam"          # adam | adamw | sgd | momentum (SGD with momentum 0.9)
    momentum: float = 0.9            # used by optimizer=momentum only
    weight_decay: float = 0.004      # used by optimizer=adamw only (decoupled, Keras's default)
    label_smoothing: float = 0.0     # targets (1 − ε)·onehot + ε/10 in the training loss
    augment: bool = False            # random rotation/shift/zoom of the training images
    augment_rotation: float = 10.0   # degrees, at most, either way
    augment_shift: float = 2.0       # pixels, at most, each axis
    augment_zoom: float = 0.1        # scale within [1 − zoom, 1 + zoom]
    seed: int = 0                    # initial weights, data order and dropout masks
    validation_split: float = 0.1    # the LAST fraction of the training set, as Keras takes it
    steps_per_epoch: Optional[int] = None  # a cap, for quick runs; None = the whole epoch
    jit_compile: bool = False        # XLA-compile the training step
    precision: str = "float32"       # float32 | mixed_bfloat16 | mixed_float16 (Keras's policies)
    gradients: str = "tape"          # tape (tf.GradientTape) | manual (mnist_tf.backprop)
    steps_per_loop: int = 1          # training steps per tf.function call (steps_per_execution)
    log_every: int = 10              # steps between per-step scalar summaries
    histogram_every: int = 0         # steps between weight/gradient histograms; 0 = once per epoch
    profile: bool = False            # trace 10 steps after 10 of warm-up (fewer in short runs)
    keep_checkpoints: int = 3        # checkpoints kept by the CheckpointManager
    checkpoint_every_steps: int = 200  # also checkpoint mid-epoch every this many steps; 0 = not
    export: bool = True              # write a SavedModel into <logdir>/export at the end
    checkpoint_dir: Optional[str] = None  # None = <logdir>/checkpoints; saved so --resume finds it

    def validate(self) -> "TrainConfig":
        """Returns the config; a value out of range is a :class:`SettingError` naming it."""
        checks = [
            (self.model in MODELS, "model", f"one of {', '.join(sorted(MODELS))}"),
            (self.epochs >= 1, "epochs", "at least 1"),
            (self.batch_size >= 1, "batch_size", "at least 1"),
            (math.isfinite(self.learning_rate) and self.learning_rate > 0, "learning_rate",
             "a finite number greater than 0"),
            (self.lr_schedule in SCHEDULES, "lr_schedule", f"one of {', '.join(SCHEDULES)}"),
            (self.warmup_steps >= 0, "warmup_steps", "0 or more"),
            (0 < self.lr_decay_rate <= 1, "lr_decay_rate", "in (0, 1]"),
            (self.optimizer in OPTIMIZERS, "optimizer", f"one of {', '.join(OPTIMIZERS)}"),
            (0 <= self.momentum < 1, "momentum", "in [0, 1)"),
            (0 <= self.weight_decay < 1, "weight_decay", "in [0, 1)"),
            (0 <= self.label_smoothing < 1, "label_smoothing", "in [0, 1)"),
            (0 <= self.augment_rotation <= 180, "augment_rotation", "in [0, 180] degrees"),
            (0 <= self.augment_shift <= 14, "augment_shift", "in [0, 14] pixels"),
            (0 <= self.augment_zoom < 1, "augment_zoom", "in [0, 1)"),
            (self.seed >= 0, "seed", "0 or more"),
            (self.precision in PRECISIONS, "precision", f"one of {', '.join(PRECISIONS)}"),
            (self.gradients in GRADIENTS, "gradients", f"one of {', '.join(GRADIENTS)}"),
            (self.steps_per_loop >= 1, "steps_per_loop", "at least 1"),
            (0 <= self.validation_split < 1, "validation_split", "in [0, 1)"),
            (self.steps_per_epoch is None or self.steps_per_epoch >= 1,
             "steps_per_epoch", "at least 1"),
            (self.log_every >= 1, "log_every", "at least 1"),
            (self.histogram_every >= 0, "histogram_every", "0 or more"),
            (self.keep_checkpoints >= 1, "keep_checkpoints", "at least 1"),
            (self.checkpoint_every_steps >= 0, "checkpoint_every_steps", "0 or more"),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise SettingError(name, f"must be {expected}, got {getattr(self, name)!r}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def save(config: TrainConfig, path: str) -> None:
    """Writes the config as JSON (so ``--resume`` and ``evaluate.py`` can rebuild the run)."""
    json_files.write_json(path, dict(sorted(config.to_dict().items())))


def load(path: str) -> TrainConfig:
    """Reads a config written by :func:`save`; unknown keys are ignored. Not validated here:
    the caller validates once any overrides are applied (``--resume --epochs=20``).

    Raises:
      CheckpointError: (one line) the file is not a config that :func:`save` wrote.
    """
    try:
        values = json_files.read_json(path)
        if not isinstance(values, dict):
            raise TypeError(f"a JSON object, got {type(values).__name__}")
        names = {field.name for field in dataclasses.fields(TrainConfig)}
        return TrainConfig(**{k: v for k, v in values.items() if k in names})
    except (ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
        raise CheckpointError(f"{path}: not a run config written by train.py ({first_line(e)})")
