"""The run's report, ``<logdir>/metrics.json``: final figures a script can read without TensorBoard.

    {"test_accuracy": 0.9917, "test": {"loss", "accuracy"},
     "train": {...}, "validation": {...},          # the last epoch's
     "epochs", "epochs_run_this_session", "steps",
     "wall_seconds", "train_images_per_second", "replicas", "peak_rss_mb",
     "finished_at"}                                 # time.time() when written

``wall_seconds`` and ``train_images_per_second`` cover every session of a
resumed run (their totals are kept in the checkpoint).

Strict JSON: a figure that is not a finite number (no validation split) is
``null``. Written through ``tf.io.gfile`` (any storage TensorBoard reads:
local, ``gs://``, ...) to a temporary name, then renamed.
"""

import resource
import time

from mnist_tf.runs.json_files import json_numbers, write_json

METRICS_FILE = "metrics.json"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_metrics(path: str, test, epoch_metrics: dict, *, epochs: int, epochs_run: int,
                  steps: int, wall_seconds: float, train_images_per_second, replicas: int) -> dict:
    """Writes metrics.json (see the module docstring) and returns what it wrote."""
    metrics = json_numbers({
        "test_accuracy": test.accuracy,
        "test": {"loss": test.loss, "accuracy": test.accuracy},
        **epoch_metrics,
        "epochs": epochs,
        "epochs_run_this_session": epochs_run,
        "steps": steps,
        "wall_seconds": wall_seconds,
        "train_images_per_second": train_images_per_second,
        "replicas": replicas,
        "peak_rss_mb": peak_rss_mb(),
        "finished_at": time.time(),
    })
    write_json(path, metrics)
    return metrics
