"""The terminal view of training: a live progress line, then one summary line per epoch.

    epoch 3/15  211/422 [=========>          ] loss 0.0712 acc 0.9781  5,210 img/s  ETA 0:05
    epoch 3/15  loss 0.0701 acc 0.9783 | val_loss 0.0421 val_acc 0.9883 | 10.4 s

On a terminal the live line is redrawn in place (at most ~10 times a second);
when output goes to a file or pipe only the summary lines are printed.

An epoch resumed mid-way (after ``resumed_steps`` steps and ``resumed_images``
images of an earlier session) counts only this session's work in its speed::

    img/s = (images − resumed_images) / seconds
    ETA   = (total − steps) · seconds / (steps − resumed_steps)
"""

import sys
import time


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Tracks one epoch's running loss/accuracy and draws the live line."""

    def __init__(self, epoch: int, epochs: int, total_steps: int, stream=None,
                 live: bool = None, min_interval: float = 0.1):
        self.epoch, self.epochs, self.total = epoch, epochs, total_steps
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.min_interval = min_interval
        self.start = time.perf_counter()
        self._drawn = 0.0
        self.steps = 0
        self.images = 0
        self.loss_sum = 0.0      # Σ batch_mean_loss × batch_size
        self.correct = 0.0
        # A resumed epoch starts with steps and images of an earlier session: this session's
        # speed and ETA leave them out.
        self.resumed_steps, self.resumed_images = 0, 0.0

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.images, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.images, 1)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def resumed(self, steps: int, images: float) -> None:
        """The epoch starts after ``steps`` steps and ``images`` images of an earlier session."""
        self.resumed_steps, self.resumed_images = steps, images

    @property
    def session_images(self) -> float:
        """Images of this epoch trained in this session."""
        return self.images - self.resumed_images

    @property
    def images_per_second(self) -> float:
        """This session's training images per second in this epoch."""
        return self.session_images / max(self.seconds, 1e-9)

    def update(self, steps: int, images: float, loss_sum: float, correct: float) -> None:
        """The epoch so far: ``steps`` done, ``images`` seen, Σ batch-mean loss × batch size,
        Σ correct predictions (the sums the training step keeps on the device)."""
        self.steps, self.images = steps, int(images)
        self.loss_sum, self.correct = loss_sum, correct
        now = time.perf_counter()
        if self.live and (now - self._drawn >= self.min_interval or self.steps == self.total):
            self._drawn = now
            self.stream.write("\r" + self.line() + "\033[K")
            self.stream.flush()

    def line(self) -> str:
        width = 20
        done = int(width * self.steps / max(self.total, 1))
        bar = "=" * max(done - 1, 0) + (">" if done else "") + " " * (width - done)
        eta = (self.total - self.steps) * self.seconds / max(self.steps - self.resumed_steps, 1)
        return (f"epoch {self.epoch}/{self.epochs}  {self.steps}/{self.total} [{bar}] "
                f"loss {self.loss:.4f} acc {self.accuracy:.4f}  "
                f"{self.images_per_second:,.0f} img/s  ETA {_duration(eta)}")

    def finish(self, validation=None) -> str:
        """Replaces the live line with the epoch's summary line (and returns it)."""
        text = (f"epoch {self.epoch}/{self.epochs}  loss {self.loss:.4f} "
                f"acc {self.accuracy:.4f}")
        if validation is not None and validation.count:
            text += f" | val_loss {validation.loss:.4f} val_acc {validation.accuracy:.4f}"
        text += f" | {self.seconds:.1f} s, {self.images_per_second:,.0f} img/s"
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        return text
