"""The profiler window: a trace of a few training steps for TensorBoard's Profile tab.

``tf.profiler.experimental.start(logdir)`` … ``stop()`` writes
``<logdir>/plugins/profile/<timestamp>/*.xplane.pb``, which the Profile tab
(the ``tensorboard-plugin-profile`` package) reads. The first steps of a
session are skipped: tracing and warm-up are not what a profile should show.
"""

import tensorflow as tf

WARMUP_STEPS, TRACED_STEPS = 10, 10


class ProfilerWindow:
    """Traces up to ``TRACED_STEPS`` steps after up to ``WARMUP_STEPS``, counted from the
    session's first step (so a resumed run is profiled too).

    A session shorter than that is profiled from its middle, a one-step session in
    full. ``before_steps(first)`` / ``after_steps(last)`` bracket each call of one or
    more steps (a trace starts and ends between calls); ``stop()`` ends a trace still
    open when training ends.
    """

    def __init__(self, enabled: bool, logdir: str, first_step: int, session_steps: int):
        warmup = min(WARMUP_STEPS, session_steps // 2)
        self.start = first_step + warmup
        self.end = self.start + min(TRACED_STEPS, session_steps - warmup)
        self.enabled = enabled and session_steps > 0
        self.logdir, self.active = logdir, False

    def before_steps(self, first: int) -> None:
        if self.enabled and not self.active and first >= self.start:
            tf.profiler.experimental.start(self.logdir)
            self.active = True

    def after_steps(self, last: int) -> None:
        if self.active and last + 1 >= self.end:
            self.stop()

    def stop(self) -> None:
        if self.active:
            tf.profiler.experimental.stop()
            self.active, self.enabled = False, False  # one trace per session
