"""One row of ``bin/benchmark.py``, measured in the child process that runs it.

A row is a runner (ours, keras or torch) with options (``ROWS``); ``measure_row``
returns its (training images/s, evaluation images/s, version, extra) under a
``Timing``, as ``bin/benchmark.py``'s docstring describes.

Keras and PyTorch are imported only inside their runners: this file runs in bin/.
"""

import dataclasses
import math
import statistics
import time

from mnist_tf import precision

# Row name → (runner, its options). ``steps_per_loop=True`` takes N from --steps_per_loop.
ROWS = {
    "ours": ("ours", {}),
    "ours/manual": ("ours", {"gradients": "manual"}),
    "ours/mixed_bfloat16": ("ours", {"policy": "mixed_bfloat16"}),
    "ours/steps_per_loop": ("ours", {"steps_per_loop": True}),
    "ours/xla": ("ours", {"jit_compile": True}),
    "keras": ("keras", {}),
    "keras/mixed_bfloat16": ("keras", {"policy": "mixed_bfloat16"}),
    "keras/steps_per_execution": ("keras", {"steps_per_loop": True}),
    "torch": ("torch", {}),
}


@dataclasses.dataclass(frozen=True)
class Timing:
    """How a child times: ``warmup`` steps, then ``repeats`` windows of ``steps`` steps of
    ``batch_size`` images; evaluation at ``eval_batch_size``, ``repeats`` passes."""

    batch_size: int
    eval_batch_size: int
    warmup: int
    steps: int
    repeats: int

    def in_calls_of(self, n: int) -> "Timing":
        """The same with ``warmup`` and ``steps`` rounded up to multiples of n steps per call."""
        return dataclasses.replace(self, warmup=math.ceil(self.warmup / n) * n,
                                   steps=math.ceil(self.steps / n) * n)


def _windows(call, steps_per_call, timing, sync=lambda: None):
    """Runs ``call()`` (``steps_per_call`` steps each) for the warm-up, then ``timing.repeats``
    timed windows, each ending with ``sync()`` (a read that waits for the work); median img/s."""
    for _ in range(timing.warmup // steps_per_call):
        call()
    sync()
    rates = []
    for _ in range(timing.repeats):
        start = time.perf_counter()
        for _ in range(timing.steps // steps_per_call):
            call()
        sync()
        rates.append(timing.steps * timing.batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def _timed_passes(run_pass, images, repeats):
    run_pass()  # warm-up: tracing
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_pass()
        rates.append(images / (time.perf_counter() - start))
    return statistics.median(rates)


def _ours(data, timing, gradients="tape", policy="float32", steps_per_loop=1,
          jit_compile=False):
    """Our training step as bin/train.py makes it, with the given knobs; (train img/s, eval
    img/s, version, extra)."""
    import tensorflow as tf

    from mnist_tf import models, optimizers
    from mnist_tf.data import pipeline
    from mnist_tf.training import step

    model = models.build(precision.set_policy(models.keras_example_cnn(seed=0), policy))
    optimizer = optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    make = dict(model=model, optimizer=optimizer, jit_compile=jit_compile,
                step=step.TRAIN_STEPS[gradients])
    batches = iter(pipeline.train_dataset(data.x_train, data.y_train, timing.batch_size,
                                          seed=0, epoch=0).repeat())
    train_steps, n = step.make_train_loop(**make), tf.constant(steps_per_loop)  # as the loop
    call = lambda: train_steps(batches, n)  # noqa: E731
    train = _windows(call, steps_per_loop, timing, sync=lambda: int(optimizer.iterations))
    eval_step = step.make_eval_step(model)
    test = pipeline.eval_dataset(data.x_test, data.y_test, timing.eval_batch_size)

    def evaluate():
        for images, labels in test:
            float(eval_step(images, labels)["loss_sum"])

    return train, _timed_passes(evaluate, len(data.y_test), timing.repeats), tf.__version__, {}


def _keras(data, timing, policy="float32", steps_per_loop=1):
    """``model.fit`` of the Keras twin under the dtype ``policy`` with ``steps_per_execution``
    = steps_per_loop; (train img/s, eval img/s, version, extra)."""
    import keras

    from keras_oracle import twins as keras_twins

    keras.mixed_precision.set_dtype_policy(policy)
    model = keras_twins.TWINS["keras_example_cnn"]()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=steps_per_loop)
    x, y = keras_twins.as_arrays(data.x_train, data.y_train)

    class Clock(keras.callbacks.Callback):
        """Images/s over windows of ``timing.steps`` steps after the warm-up; Keras calls
        ``on_train_batch_end`` once per execution, with the index of its last step."""

        def __init__(self):
            super().__init__()
            self.rates, self.start, self.mark = [], None, 0

        def on_train_batch_end(self, batch, logs=None):
            done, now = batch + 1, time.perf_counter()
            if self.start is None:
                if done >= timing.warmup:
                    self.start, self.mark = now, done
            elif done - self.mark >= timing.steps:
                self.rates.append((done - self.mark) * timing.batch_size / (now - self.start))
                self.start, self.mark = now, done

    clock = Clock()
    model.fit(x, y, batch_size=timing.batch_size, epochs=1,
              steps_per_epoch=timing.warmup + timing.steps * timing.repeats,
              shuffle=True, verbose=0, callbacks=[clock])
    x_test, y_test = keras_twins.as_arrays(data.x_test, data.y_test)
    evaluate = lambda: model.evaluate(x_test, y_test, batch_size=timing.eval_batch_size,  # noqa
                                      verbose=0)
    evaluate_default = lambda: model.evaluate(x_test, y_test, verbose=0)  # noqa: E731
    return (statistics.median(clock.rates),
            _timed_passes(evaluate, len(y_test), timing.repeats), keras.__version__,
            {"eval_images_per_second_default_batch":
             _timed_passes(evaluate_default, len(y_test), timing.repeats)})


def _torch(data, timing):
    """The same network in PyTorch eager; (train img/s, eval img/s, version, extra)."""
    import numpy as np
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.from_numpy(data.x_train[:, None].astype(np.float32) / 255.0)
    y = torch.from_numpy(data.y_train.astype(np.int64))
    order = torch.randperm(len(y))
    position = [0]

    def step():  # loss.item() each step: PyTorch eager has nothing to keep on the device for
        start = position[0] % (len(y) - timing.batch_size)
        index = order[start:start + timing.batch_size]
        position[0] += timing.batch_size
        model.train()
        optimizer.zero_grad()
        loss = loss_fn(model(x[index]), y[index])
        loss.backward()
        optimizer.step()
        loss.item()

    train = _windows(step, 1, timing)
    x_test = torch.from_numpy(data.x_test[:, None].astype(np.float32) / 255.0)

    def evaluate():
        model.eval()
        with torch.no_grad():
            for i in range(0, len(x_test), timing.eval_batch_size):
                model(x_test[i:i + timing.eval_batch_size]).argmax(1)

    return train, _timed_passes(evaluate, len(x_test), timing.repeats), torch.__version__, {}


RUNNERS = {"ours": _ours, "keras": _keras, "torch": _torch}


def row_setup(name, timing, steps_per_loop):
    """(runner, its keyword arguments, its Timing) for a row: N-step rows get N and windows
    in whole calls."""
    runner, options = ROWS[name]
    options = dict(options)
    if options.get("steps_per_loop"):
        options["steps_per_loop"] = steps_per_loop
        timing = timing.in_calls_of(steps_per_loop)
    return RUNNERS[runner], options, timing


def measure_row(name, data, timing, steps_per_loop):
    """Row ``name`` on ``data``: (train img/s, eval img/s, version, extra)."""
    runner, options, timing = row_setup(name, timing, steps_per_loop)
    return runner(data, timing, **options)
