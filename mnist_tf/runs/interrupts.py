"""SIGTERM and SIGINT stop a run at a checkpoint: the step in flight ends, the run saves at
that batch and says where, and the binary exits with 128 + the signal's number.

    the handler (at any moment):    received ← signum           (no I/O, no exception)
    the loop (between step calls):  stop_if_signalled(state, batches_done)
        any worker received one?  (one all-reduce under multi-worker: workers.any_signal)
        → state.save(epochs_done, batches_done)  → raise Interrupted(epoch, batch, checkpoint)

What Kubernetes, Slurm and spot VMs send before they kill (SIGTERM), and Ctrl-C
(SIGINT), therefore cost no training: ``--resume`` continues from the batch after
the one in flight and ends at the same weights as a run never stopped. The
handler only records the signal, so a second signal while the checkpoint is
being written changes nothing (the save goes on to its end; and a save cut short
by a SIGKILL leaves the previous checkpoint the newest, see
``training.checkpoints``). A signal during the final test evaluation, export or
metrics.json lets the run finish.

Under ``MultiWorkerMirroredStrategy`` every worker asks its peers at every check
whether any of them was signalled (``workers.any_signal``), so a signal to any
one worker stops all of them after the same step, in the same collective save.
"""

import contextlib
import os
import signal

from mnist_tf.runs import workers

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(Exception):
    """The run stopped at a checkpoint because a worker received ``signum``.

    Attributes:
      signum: the signal (SIGTERM or SIGINT; a peer's, when this worker received none).
      epoch, batch: the checkpoint holds ``batch`` batches of epoch ``epoch`` (1-based).
      checkpoint: its prefix, e.g. ``logs/run/checkpoints/ckpt-3``.
    """

    def __init__(self, signum: int, epoch: int, batch: int, checkpoint: str):
        self.signum, self.epoch, self.batch, self.checkpoint = signum, epoch, batch, checkpoint
        super().__init__(f"interrupted at epoch {epoch}, batch {batch}: checkpoint "
                         f"{checkpoint}; resume with --resume")

    @property
    def exit_status(self) -> int:
        """The shell's status for a process a signal ended: 143 (SIGTERM), 130 (SIGINT)."""
        return 128 + self.signum


class _Watch:
    """Whether a ``stop_on_signals`` block is active, and the signal received (0: none)."""

    active = False
    received = 0


def _handler(signum, frame):
    del frame
    _Watch.received = _Watch.received or signum


@contextlib.contextmanager
def stop_on_signals(hold_after_stop: bool = False):
    """Within the block, SIGTERM and SIGINT ask the loop to stop at a checkpoint; the
    previous handlers are put back after it.

    Args:
      hold_after_stop: when a signal came during the block (or the run stopped for a
        peer's), ignore further ones after it (``SIG_IGN``) instead of putting the previous
        handlers back: for a process about to exit with the signal's status, which a second
        SIGTERM sent a moment later must not kill between its save and its exit. (Not a
        Python handler: the interpreter puts those back to the default as it finalizes; an
        ignored signal stays ignored.)
    """
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    _Watch.active, _Watch.received = True, 0
    stopped = False
    try:
        yield
    except Interrupted:  # this worker's signal, or a peer's (its own ``received`` is then 0)
        stopped = True
        raise
    finally:
        stopping = hold_after_stop and (stopped or _Watch.received)
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_IGN if stopping else handler)
        _Watch.active = False


def signalled(strategy) -> int:
    """The signal this process (or, under multi-worker, any worker) received; 0 for none."""
    if workers.worker_count(strategy) > 1:
        return workers.any_signal(strategy, _Watch.received, SIGNALS)
    return _Watch.received


def stop_if_signalled(run, batches_done: int, writer=None) -> None:
    """Between two step calls of ``run`` (a ``runs.run.Run``): when a signal came, flushes
    ``writer`` (TensorBoard events not yet on disk, which a resumed run would not write
    again), saves the run after ``batches_done`` batches of the current epoch (at the
    epoch's end its checkpoint is already written) and raises :class:`Interrupted` naming
    the checkpoint. Without a ``stop_on_signals`` block around the run it does nothing.

    Raises:
      Interrupted: a worker was signalled; the checkpoint is written.
    """
    if not _Watch.active:
        return
    signum = signalled(run.strategy)
    if not signum:
        return
    if writer is not None:
        writer.flush()
    epochs = run.state.epochs_done
    if batches_done == run.data.steps_per_epoch:
        epoch = epochs
    else:
        run.save(epochs, batches_done=batches_done)
        epoch = epochs + 1
    # The chief's checkpoint, on every worker (the others save into temporary directories).
    prefix = os.path.join(run.dirs.checkpoint_dir,
                          os.path.basename(run.manager.latest_checkpoint))
    raise Interrupted(signum, epoch, batches_done, prefix)
