"""The JSON files of a run (``config.json``, ``metrics.json``): strict JSON, written atomically,
through ``tf.io.gfile`` so that a run can log to any storage TensorBoard reads (local,
``gs://``, ``hdfs://``, ...).
"""

import json
import math

import tensorflow as tf


def json_numbers(value):
    """``value`` with every NaN or infinity as None: strict JSON has no NaN, and ``null`` is
    what every JSON reader understands."""
    if isinstance(value, dict):
        return {k: json_numbers(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str, value: dict) -> None:
    """Writes ``value`` as indented JSON to ``path`` atomically (temporary file, then rename)."""
    tmp = path + ".tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(value, indent=2, sort_keys=False, allow_nan=False))
    tf.io.gfile.rename(tmp, path, overwrite=True)


def read_json(path: str):
    """The JSON value in ``path``."""
    with tf.io.gfile.GFile(path) as f:
        return json.loads(f.read())
