"""One trainer per run: an exclusive ``fcntl.flock`` on ``<logdir>/.lock`` for the trainer's life.

The kernel releases the lock when the process ends, however it ends (SIGKILL
included), so a lock never outlives its trainer; a second trainer is refused
with the first one's PID. ``flock`` needs a local (or NFSv4) filesystem: on a
``gs://``-style logdir there is no lock, the one file a run writes outside
``tf.io.gfile``.
"""

import fcntl
import os

from mnist_tf.errors import MnistTfError

LOCK_FILE = ".lock"


class LogdirInUseError(MnistTfError):
    """Another live trainer owns the logdir."""


class LogdirLock:
    """An exclusive ``flock`` on ``<logdir>/.lock``, holding this process's PID.

    ``with LogdirLock(logdir):`` owns the run for the block; the kernel drops the
    lock when the process dies, so a SIGKILLed trainer never locks its run out.
    The file itself stays (deleting it would let two trainers lock two different
    files). No lock on a URL logdir (``gs://...``): ``flock`` needs a local filesystem.

    Raises:
      LogdirInUseError: (on entering) another process holds the lock; names its PID.
    """

    def __init__(self, logdir):
        self.logdir, self._fd = logdir, None
        self.path = os.path.join(logdir, LOCK_FILE) if logdir else None

    def __enter__(self):
        if self.logdir is None or "://" in self.logdir:  # None: not the chief, no lock
            return self
        os.makedirs(self.logdir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LogdirInUseError(f"{self.logdir} is in use by another trainer (PID {pid}): "
                                   "wait for it to end, or choose another logdir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the lock
            self._fd = None
