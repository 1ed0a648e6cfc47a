"""Workers of a multi-worker run agreeing before they act, so that none acts alone or waits
for a peer that has gone: the chief's checks given to every worker, and a signal to any one
worker seen by all.

Both are sums over workers, one ``all_reduce(SUM)`` of an int32 vector (the collective
``MultiWorkerMirroredStrategy`` already runs for the gradients, bounded by its
``timeout_seconds``, so a dead peer is an error, never a hang)::

    chief_decides(check):  n = Σ_w len_w (only the chief's is not 0); bytes = Σ_w bytes_w
                           → the chief's JSON outcome of check(): its value, or its
                             MnistTfError re-raised alike on every worker
    any_signal(received):  counts[k] = Σ_w [received_w = signals[k]]
                           → the first signal some worker received, or 0

On one process (no cluster) they are the plain calls, with no collective.
"""

import importlib
import json

import numpy as np
import tensorflow as tf

from mnist_tf import distribute
from mnist_tf.errors import MnistTfError, SettingError

_SUMS = {}  # id(strategy) → its tf.function summing a vector over the workers


def worker_count(strategy) -> int:
    """Processes in the strategy's cluster (1 without one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return sum(len(spec.get(job, [])) for job in ("chief", "worker"))


def _sum_over_workers(strategy, values: np.ndarray) -> np.ndarray:
    """Σ over workers of each worker's int32 ``values`` (one replica per worker counts)."""
    if id(strategy) not in _SUMS:
        def replica_sum(v):
            context = tf.distribute.get_replica_context()
            first = context.replica_id_in_sync_group % len(strategy.extended.worker_devices)
            v = v * tf.cast(tf.equal(first, 0), tf.int32)
            return context.all_reduce(tf.distribute.ReduceOp.SUM, v)

        _SUMS[id(strategy)] = tf.function(lambda v: strategy.run(replica_sum, args=(v,)))
    out = _SUMS[id(strategy)](tf.constant(values, tf.int32))
    return strategy.experimental_local_results(out)[0].numpy()


def any_signal(strategy, received: int, signals) -> int:
    """The signal this worker ``received`` if any, else the first of ``signals`` a peer
    received, else 0 (a collective: every worker calls it at the same point)."""
    counts = _sum_over_workers(strategy, np.array([received == s for s in signals], np.int32))
    if received:
        return received
    return next((int(s) for s, n in zip(signals, counts) if n), 0)


def chief_decides(strategy, check):
    """``check()`` run on the chief alone; its (JSON-able) value returned on every worker, or
    the error it raised raised on every worker: the chief's own, and on the others the same
    ``MnistTfError`` class with the same message (any other error as an ``MnistTfError``)."""
    if worker_count(strategy) <= 1:
        return check()
    data, error = b"", None
    if distribute.is_chief(strategy):
        try:
            outcome = {"value": check()}
        except Exception as e:  # the chief raises its own; the others its class and message
            error, outcome = e, {"error": _describe(e)}
        data = json.dumps(outcome).encode()
    n = int(_sum_over_workers(strategy, np.array([len(data)], np.int32))[0])
    mine = np.frombuffer(data, np.uint8).astype(np.int32) if data else np.zeros(n, np.int32)
    outcome = json.loads(_sum_over_workers(strategy, mine).astype(np.uint8).tobytes())
    if error is not None:
        raise error
    if "error" in outcome:
        raise _rebuild(outcome["error"])
    return outcome["value"]


def _describe(error: Exception) -> dict:
    message = (f"{error.strerror}: {error.filename}" if isinstance(error, OSError)
               and error.filename else str(error))  # as bin/_app.py shows an OSError
    described = {"module": type(error).__module__, "class": type(error).__qualname__,
                 "message": message}
    if isinstance(error, SettingError):
        described.update(setting=error.setting, problem=error.problem)
    return described


def _rebuild(described: dict) -> MnistTfError:
    """The chief's error as the same class with the same message (MnistTfError if unknown)."""
    try:
        cls = getattr(importlib.import_module(described["module"]), described["class"])
    except (ImportError, AttributeError):
        cls = MnistTfError
    if issubclass(cls, SettingError) and "setting" in described:
        return cls(described["setting"], described["problem"])
    if issubclass(cls, MnistTfError) and not issubclass(cls, SettingError):
        return cls(described["message"])
    return MnistTfError(described["message"])
