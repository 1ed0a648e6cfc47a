"""Checkpoint repair: finding the intact checkpoints of a run, and tidying up after a crash.

Checkpoints are found from the files themselves, not only from the
``checkpoint`` index file: :func:`intact_checkpoints` lists every
``<name>-N.index`` whose data shards are all there and readable (every tensor
read, so a truncated or corrupted shard fails its checksum), newest first. A
deleted index file or a damaged newest checkpoint therefore costs one
checkpoint's work, not the run.

A save killed half-way never tears a checkpoint (see ``checkpoints``), but it
leaves a ``ckpt-N_temp/`` directory or a ``checkpoint.tmp<hex>`` file behind:
:func:`remove_partial_saves` deletes them. When the ``checkpoint`` index file
is missing or names another checkpoint (a damaged one skipped), :func:`rewrite_index`
writes it anew, so that the ``tf.train.CheckpointManager`` keeps the intact ones.
"""

import os

import tensorflow as tf

from mnist_tf.errors import CheckpointError, first_line
from mnist_tf.runs import checkpoints


def checkpoint_files(directory: str) -> list:
    """Every checkpoint prefix in ``directory``, found from its ``<name>-N.index`` files
    (and those the ``checkpoint`` index file names), newest first: by N, then by time."""
    if not tf.io.gfile.isdir(directory):
        return []
    found = {}
    for name in tf.io.gfile.listdir(directory):
        prefix = os.path.join(directory, name[:-len(".index")])
        n = checkpoints.number(prefix)
        if name.endswith(".index") and n >= 0:
            found[prefix] = n
    try:
        listed = tf.train.get_checkpoint_state(directory)
    except (tf.errors.OpError, ValueError):  # a garbled index file: the files still count
        listed = None
    for prefix in (listed.all_model_checkpoint_paths if listed else []):
        prefix = prefix if os.path.isabs(prefix) or "://" in prefix else \
            os.path.join(directory, prefix)
        if prefix not in found and tf.io.gfile.exists(prefix + ".index"):
            found[prefix] = checkpoints.number(prefix)

    def newest(prefix):
        return found[prefix], tf.io.gfile.stat(prefix + ".index").mtime_nsec

    return sorted(found, key=newest, reverse=True)


def damage(prefix: str):
    """Why the checkpoint ``prefix`` cannot be restored (one line), or None when it is intact.

    Every data shard its index names must exist, and every tensor must read back
    (TensorFlow checks each one's CRC32C): a truncated or corrupted shard is found
    here rather than half-way through a restore.
    """
    try:
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, KeyError, RuntimeError) as e:
        return first_line(e)
    return None


def intact_checkpoints(directory: str, on_damaged=None):
    """The intact checkpoints in ``directory``, newest first (a generator: each is checked
    only when reached). ``on_damaged(prefix, reason)`` is called for each one skipped."""
    for prefix in checkpoint_files(directory):
        reason = damage(prefix)
        if reason is None:
            yield prefix
        elif on_damaged is not None:
            on_damaged(prefix, reason)


def newest_intact(directory: str, log=None):
    """The newest intact checkpoint in ``directory``, or None when it holds none.

    A damaged newer one is skipped, with a line to ``log`` saying so.

    Raises:
      CheckpointError: ``directory`` holds checkpoints, but none is intact.
    """
    skipped = []
    prefix = next(intact_checkpoints(directory, lambda p, why: skipped.append((p, why))), None)
    if skipped and prefix is None:
        newest, why = skipped[0]
        raise CheckpointError(f"{newest}: cannot restore the run from it, the checkpoint is "
                              f"damaged ({why}), and no older intact checkpoint is left")
    if skipped and log is not None:
        names = ", ".join(os.path.basename(p) for p, _ in skipped)
        log(f"skipping damaged checkpoint(s) {names} ({skipped[0][1]}); "
            f"using the newest intact one, {os.path.basename(prefix)}")
    return prefix


def remove_partial_saves(directory: str) -> list:
    """Deletes what a save killed half-way left in ``directory``: ``<prefix>_temp/``
    shard directories and ``checkpoint.tmp<hex>`` index files. Returns their names."""
    if not tf.io.gfile.isdir(directory):
        return []
    removed = []
    for name in tf.io.gfile.listdir(directory):
        name = name.rstrip("/")
        path = os.path.join(directory, name)
        if name.endswith("_temp") and tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif name.startswith("checkpoint.tmp") and not tf.io.gfile.isdir(path):
            tf.io.gfile.remove(path)
        else:
            continue
        removed.append(name)
    return removed


def rewrite_index(directory: str, prefixes) -> None:
    """Writes the ``checkpoint`` index file anew, listing ``prefixes`` (newest first) so that
    ``tf.train.CheckpointManager`` keeps and deletes them as its own."""
    prefixes = list(prefixes)
    if prefixes:
        tf.compat.v1.train.update_checkpoint_state(directory, prefixes[0],
                                                   all_model_checkpoint_paths=prefixes[::-1])
