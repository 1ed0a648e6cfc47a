"""TensorBoard events a resumed run would write twice: found by their time and removed.

A run killed after its last checkpoint has written events for steps it will
train again once resumed; without this, TensorBoard would show those steps twice.
"""

import os

import tensorflow as tf
from tensorflow.core.util import event_pb2

from mnist_tf.runs import json_files
from mnist_tf.runs.report import METRICS_FILE


PURGE_TMP = ".events.purge-tmp"  # no "tfevents" in the name: TensorBoard ignores it


def purge_replayed_events(logdir: str, after: float, log) -> None:
    """Deletes the TensorBoard events written after wall-clock time ``after``: those of a
    killed session after its last checkpoint, which the resumed run writes again.

    Why rewrite the files: ``tf.summary`` writers cannot delete, and TensorBoard's own
    repair (a ``SessionLog.START`` event purging steps ≥ the restart step) is an
    ``Event`` field no TF2 summary op writes, purges by step (the ``epoch/*`` tags
    count epochs, not steps), and is ignored by TensorBoard's fast Rust loader.
    Cutting by time is exact whatever a tag's x-axis: every event carries the time
    it was made, and the checkpoint the time it was written (``RunTotals.saved_at``).
    Each events file that holds later events is rewritten without them (a new file
    renamed over it, through ``tf.io.gfile``); a torn last record is dropped. A
    TensorBoard left running keeps what it had already read until it reloads.
    """
    dropped = 0
    for directory in [logdir] + [os.path.join(logdir, run) for run in ("train", "validation",
                                                                       "test")]:
        if not tf.io.gfile.isdir(directory):
            continue
        for name in sorted(tf.io.gfile.listdir(directory)):
            if "tfevents" in name:
                dropped += _purge_file(os.path.join(directory, name), after)
    if dropped:
        log(f"removed {dropped} TensorBoard event(s) written after the checkpoint; "
            "the resumed run writes them again")


def _purge_file(path: str, after: float) -> int:
    records, kept = 0, []
    try:
        for record in tf.data.TFRecordDataset(path):
            records += 1
            if event_pb2.Event.FromString(record.numpy()).wall_time <= after:
                kept.append(record.numpy())
    except tf.errors.DataLossError:  # killed mid-write: a torn last record
        records += 1
    if len(kept) == records:
        return 0
    if kept:
        tmp = os.path.join(os.path.dirname(path), PURGE_TMP)
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in kept:
                writer.write(record)
        tf.io.gfile.rename(tmp, path, overwrite=True)
    else:
        tf.io.gfile.remove(path)
    return records - len(kept)


def replay_cut(logdir: str, saved_at: float) -> float:
    """The time after which a resumed run's events are replayed: those after the checkpoint
    it restored (written at ``saved_at``; -inf with none: it starts from the beginning),
    but not those of a finished session (up to its metrics.json) that is now extended."""
    path = os.path.join(logdir, METRICS_FILE)
    if not tf.io.gfile.exists(path):
        return saved_at
    finished = json_files.read_json(path).get("finished_at")  # the file's mtime may be whole s
    return max(saved_at, finished or tf.io.gfile.stat(path).mtime_nsec / 1e9 + 1)
