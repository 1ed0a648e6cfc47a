"""What ``model.fit`` and ``model.evaluate`` do, by hand: the step (``step``), the loop
(``loop``), the run's data (``datasets``), evaluation, TensorBoard (``summaries``).

Read ``step.py`` first, then ``loop.py``. The machinery around a run (logdir, lock,
resume, checkpoints) is in ``mnist_tf.runs``.
"""
