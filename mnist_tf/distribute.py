"""Choosing a ``tf.distribute`` strategy, and which worker writes what.

* ``default``: no distribution, the current device (``tf.distribute.get_strategy()``).
* ``mirrored``: ``tf.distribute.MirroredStrategy`` — one replica per local GPU,
  or per logical CPU device when ``num_cpu_devices`` splits the CPU (so the
  path can be run and tested without GPUs). Each replica computes gradients on
  its slice of the global batch; they are summed (all-reduce) and every replica
  applies the same update, so the variables stay identical ("mirrored").
* ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy``, the same on
  several machines, configured by the standard ``TF_CONFIG`` variable::

      TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                  "task": {"type": "worker", "index": 0}}'

Only the chief (worker 0, or the task of type ``chief``) keeps TensorBoard
logs, checkpoints, metrics and the export; the others must still take part in
each save (saving is a collective operation), so they write to a temporary
directory of their own, removed at the end — as TensorFlow's multi-worker
guide prescribes.
"""

import functools
import json
import os
import tempfile

import tensorflow as tf

from mnist_tf import devices
from mnist_tf.errors import MnistTfError, SettingError

STRATEGIES = ("default", "mirrored", "multi_worker")
COLLECTIVE_TIMEOUT = 45.0  # seconds: see make_strategy's timeout_seconds


class DistributeError(MnistTfError):
    """A strategy cannot be built as asked (bad TF_CONFIG, unknown name)."""


def _check_tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise DistributeError("the multi_worker strategy needs the TF_CONFIG environment variable "
                              '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                              '"task": {"type": "worker", "index": 0}})')
    try:
        tf_config = json.loads(raw)
        workers = tf_config["cluster"]["worker"]
        task = tf_config["task"]
        task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as e:
        raise DistributeError(f"TF_CONFIG is not valid ({type(e).__name__}: {e}); expected "
                              '{"cluster": {"worker": [...]}, "task": {"type": ..., "index": ...}}')
    if not workers:
        raise DistributeError("TF_CONFIG: cluster.worker lists no worker")
    return tf_config


def make_strategy(kind: str = "default", num_cpu_devices: int = 0,
                  timeout_seconds: float = COLLECTIVE_TIMEOUT):
    """Builds the strategy ``kind`` names. Call before TensorFlow touches any device.

    Args:
      kind: ``default``, ``mirrored`` or ``multi_worker``.
      num_cpu_devices: with ``mirrored`` and no GPU (or when set), split the CPU
        into this many logical devices, one replica each. 0: GPUs if any, else
        the one CPU.
      timeout_seconds: multi-worker collectives fail after this long, so a dead
        peer is an error rather than a hang (``--collective_timeout`` of
        bin/train.py). Shorter notices a dead peer sooner; it must stay longer
        than any stretch one worker works alone (start-up skew, an epoch's end).
    """
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        if num_cpu_devices:
            return _mirrored(tuple(devices.split_cpu(num_cpu_devices)))
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        return _mirrored(tuple(gpus or ["/CPU:0"]))
    if kind == "multi_worker":
        _check_tf_config()
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise SettingError("strategy", f"must be one of {', '.join(STRATEGIES)}, got {kind!r}")


@functools.lru_cache(maxsize=None)
def _mirrored(device_names: tuple):
    """One ``MirroredStrategy`` per set of devices in a process (each new one would set up its
    cross-device communication again)."""
    return tf.distribute.MirroredStrategy(list(device_names))


def is_chief(strategy) -> bool:
    """True for the one worker that keeps logs and checkpoints (always true on one machine)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def write_dir(directory: str, strategy) -> str:
    """``directory`` on the chief; a private temporary directory on the other workers."""
    if is_chief(strategy):
        return directory
    resolver = strategy.cluster_resolver
    return tempfile.mkdtemp(prefix=f"mnist_tf-{resolver.task_type}{resolver.task_id}-")


def check_settings(strategy, config) -> None:
    """Refuses, before training, the settings this strategy cannot run.

    ``jit_compile`` under a ``MirroredStrategy`` over several logical *CPU* devices:
    XLA compiles each replica's step for the host's one physical CPU device, and
    the compiled step of replica CPU:0 then reads a variable copy that lives on
    CPU:1 (``InvalidArgumentError`` at the first step). XLA with one replica per
    GPU is not concerned.

    Raises:
      SettingError: naming the flags that do not go together.
    """
    if strategy is tf.distribute.get_strategy():  # the default: one device
        return
    replicas = strategy.extended.worker_devices
    on_cpus = all("CPU" in device.upper() for device in replicas)
    if config.jit_compile and len(replicas) > 1 and on_cpus:
        raise SettingError("jit_compile", f"does not go with --strategy=mirrored over "
                                          f"{len(replicas)} logical CPU devices (XLA compiles "
                                          "each replica for the one host CPU, where the other "
                                          "replicas' variables are not): drop --jit_compile, "
                                          "or use one device")
