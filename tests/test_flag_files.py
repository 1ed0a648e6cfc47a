"""bin/flags/*.flags: every line is a setting of TrainConfig with a valid value, or
``--onednn``, bin/train.py's choice of the process's CPU kernels, with one of its values."""

import dataclasses
import os

import pytest

from mnist_tf import onednn
from mnist_tf.training.config import TrainConfig

FLAGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "bin", "flags")
FIELDS = {field.name: field for field in dataclasses.fields(TrainConfig)}


def read_flag_file(path) -> dict:
    """``--name=value``, ``--name`` and ``--noname`` lines (absl's flagfile syntax) → settings."""
    settings = {}
    for line in open(path).read().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert line.startswith("--"), line
        name, has_value, value = line[2:].partition("=")
        if name == "onednn":  # the process's kernels, not a run setting (mnist_tf/onednn.py)
            assert value in onednn.CHOICES, line
            continue
        if not has_value:
            name, value = (name[2:], "false") if name.startswith("no") and \
                name[2:] in FIELDS else (name, "true")
        assert name in FIELDS, f"{os.path.basename(path)}: --{name} is not a TrainConfig setting"
        default = getattr(TrainConfig(), name)
        if isinstance(default, bool):
            settings[name] = value.lower() == "true"
        elif default is None:  # Optional[int] (steps_per_epoch) or Optional[str]
            settings[name] = int(value) if value.isdigit() else value
        else:
            settings[name] = type(default)(value)
    return settings


@pytest.mark.parametrize("name", ["best.flags", "fast.flags"])
def test_flag_file_is_a_valid_config(name):
    settings = read_flag_file(os.path.join(FLAGS_DIR, name))
    config = TrainConfig(**settings).validate()
    assert config.model != TrainConfig().model  # a recipe of its own, not the default run
    assert config.lr_schedule != "constant"
