"""Training and evaluation throughput of our loop vs Keras `model.fit` vs PyTorch eager.

    python bin/benchmark.py                       # all three, CPU, batch 128
    python bin/benchmark.py --frameworks=ours,keras --steps=200 --repeats=5

Each framework runs in a child process of its own (so that one's memory and
thread pools do not disturb another's, and peak RSS is its own), on the same
machine, data (real MNIST), network and batch size. The children run in
``--rounds`` interleaved rounds (ours, keras, torch, ours, keras, torch, ...)
so that a slow spell of a shared machine hurts all of them alike; each result
is the median over rounds. A child measures steady-state training throughput:
``--warmup`` steps first (tracing, allocation), then ``--repeats`` windows of
``--steps`` steps, the median images/s; then evaluation throughput over the
10,000 test images (median of ``--repeats`` passes) at ``--eval_batch_size``
for every framework, and for Keras also at ``model.evaluate``'s own default
batch size (32), which is what a Keras user gets without asking. Peak RSS is
the child's ``ru_maxrss``. The last line of output is JSON.

Keras and PyTorch are imported only here and in tests, never in mnist_tf/.
"""

import _app  # first: quiets TensorFlow before it is imported

import json
import os
import resource
import statistics
import subprocess
import sys
import time

from absl import flags

FRAMEWORKS = ("ours", "ours_xla", "keras", "torch")
FLAGS = flags.FLAGS
flags.DEFINE_list("frameworks", ["ours", "ours_xla", "keras", "torch"],
                  f"Which to measure, from {', '.join(FRAMEWORKS)} (torch is skipped with a "
                  "note when it is not installed).")
flags.DEFINE_integer("batch_size", 128, "Training batch size for every framework.", lower_bound=1)
flags.DEFINE_integer("eval_batch_size", 1000, "Evaluation batch size for every framework.",
                     lower_bound=1)
flags.DEFINE_integer("warmup", 30, "Steps run before timing starts.", lower_bound=1)
flags.DEFINE_integer("steps", 100, "Training steps per timed window.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed windows (and evaluation passes); the median is kept.",
                     lower_bound=1)
flags.DEFINE_integer("rounds", 3, "Interleaved rounds of child processes; the median is kept.",
                     lower_bound=1)
flags.DEFINE_enum("device", "cpu", ("cpu", "gpu"), "Where every framework runs.")
flags.DEFINE_string("data_dir", None, "Directory with the four MNIST .gz files (default: cache).")
flags.DEFINE_string("worker", None, "Internal: run one framework and print its JSON.")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _windows(step, batch_size, warmup, steps, repeats):
    """Runs ``step()`` warmup times, then ``repeats`` timed windows; median images/s."""
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * batch_size / (time.perf_counter() - start))
    return statistics.median(rates)


def _timed_passes(run_pass, images, repeats):
    run_pass()  # warm-up: tracing
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_pass()
        rates.append(images / (time.perf_counter() - start))
    return statistics.median(rates)


def _ours(data, jit_compile):
    import tensorflow as tf

    from mnist_tf import models, optimizers
    from mnist_tf.data import pipeline
    from mnist_tf.training.steps import make_eval_step, make_train_step

    model = models.keras_example_cnn(seed=0)
    models.build(model)
    optimizer = optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    train_step = make_train_step(model, optimizer, jit_compile=jit_compile)
    batches = iter(pipeline.train_dataset(data.x_train, data.y_train, FLAGS.batch_size,
                                          seed=0, epoch=0).repeat())

    def step():  # what the training loop does per step: next batch, step, read the loss
        images, labels = next(batches)
        float(train_step(images, labels)["loss"])

    train = _windows(step, FLAGS.batch_size, FLAGS.warmup, FLAGS.steps, FLAGS.repeats)
    eval_step = make_eval_step(model)
    test = pipeline.eval_dataset(data.x_test, data.y_test, FLAGS.eval_batch_size)

    def evaluate():
        for images, labels in test:
            float(eval_step(images, labels)["loss_sum"])

    return train, _timed_passes(evaluate, len(data.y_test), FLAGS.repeats), tf.__version__


def _keras(data):
    import keras
    import numpy as np

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    x = data.x_train[..., None].astype(np.float32) / 255.0
    y = data.y_train.astype(np.int32)
    window = FLAGS.steps

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rates, self.start = [], None

        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 == FLAGS.warmup:
                self.start = time.perf_counter()
            elif self.start and (batch + 1 - FLAGS.warmup) % window == 0:
                now = time.perf_counter()
                self.rates.append(window * FLAGS.batch_size / (now - self.start))
                self.start = now

    clock = Clock()
    total = FLAGS.warmup + window * FLAGS.repeats
    model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1, steps_per_epoch=total,
              shuffle=True, verbose=0, callbacks=[clock])
    x_test = data.x_test[..., None].astype(np.float32) / 255.0
    y_test = data.y_test.astype(np.int32)
    evaluate = lambda: model.evaluate(x_test, y_test, batch_size=FLAGS.eval_batch_size,  # noqa
                                      verbose=0)
    evaluate_default = lambda: model.evaluate(x_test, y_test, verbose=0)  # noqa: E731
    return (statistics.median(clock.rates),
            _timed_passes(evaluate, len(y_test), FLAGS.repeats), keras.__version__,
            {"eval_images_per_second_default_batch":
             _timed_passes(evaluate_default, len(y_test), FLAGS.repeats)})


def _torch(data):
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

    def step():
        start = position[0] % (len(y) - FLAGS.batch_size)
        index = order[start:start + FLAGS.batch_size]
        position[0] += FLAGS.batch_size
        model.train()
        optimizer.zero_grad()
        loss = loss_fn(model(x[index]), y[index])
        loss.backward()
        optimizer.step()
        loss.item()

    train = _windows(step, FLAGS.batch_size, FLAGS.warmup, FLAGS.steps, FLAGS.repeats)
    x_test = torch.from_numpy(data.x_test[:, None].astype(np.float32) / 255.0)

    def evaluate():
        model.eval()
        with torch.no_grad():
            for i in range(0, len(x_test), FLAGS.eval_batch_size):
                model(x_test[i:i + FLAGS.eval_batch_size]).argmax(1)

    return train, _timed_passes(evaluate, len(x_test), FLAGS.repeats), torch.__version__


def _run_worker(name):
    from mnist_tf import devices
    from mnist_tf.data import sources

    devices.select_device(FLAGS.device)
    data = sources.load(FLAGS.data_dir)
    runners = {"ours": lambda: _ours(data, False), "ours_xla": lambda: _ours(data, True),
               "keras": lambda: _keras(data), "torch": lambda: _torch(data)}
    train, evaluation, version, *extra = runners[name]()
    print(json.dumps({"framework": name, "train_images_per_second": train,
                      "eval_images_per_second": evaluation, "peak_rss_mb": _peak_rss_mb(),
                      "version": version, **(extra[0] if extra else {})}))


def _measure(name):
    """Runs one framework in a child process; its result dict, or a note why it was skipped."""
    if name == "torch":
        try:
            import importlib.util
            if importlib.util.find_spec("torch") is None:
                return {"framework": name, "skipped": "torch is not installed "
                                                      "(pip install torch to include it)"}
        except ImportError:
            pass
    args = [a for a in sys.argv[1:] if not a.startswith("--worker")]
    child = subprocess.run([sys.executable, os.path.abspath(__file__), f"--worker={name}", *args],
                           capture_output=True, text=True)
    if child.returncode != 0:
        lines = child.stderr.strip().splitlines() or ["no output"]
        return {"framework": name, "skipped": f"failed: {lines[-1]}"}
    return json.loads(child.stdout.strip().splitlines()[-1])


def _median_of_rounds(runs):
    """One result per framework: the median of each rate over rounds, the largest peak RSS."""
    good = [r for r in runs if "skipped" not in r]
    if not good:
        return runs[0]
    merged = dict(good[0], rounds=len(good))
    for key in good[0]:
        if key.endswith("per_second"):
            merged[key] = statistics.median(r[key] for r in good)
    merged["peak_rss_mb"] = max(r["peak_rss_mb"] for r in good)
    return merged


def _table(results):
    rows = [f"{'framework':<10} {'train img/s':>12} {'eval img/s':>12} {'peak RSS MB':>12}  version"]
    for r in results:
        if "skipped" in r:
            rows.append(f"{r['framework']:<10} skipped: {r['skipped']}")
        else:
            rows.append(f"{r['framework']:<10} {r['train_images_per_second']:>12,.0f} "
                        f"{r['eval_images_per_second']:>12,.0f} {r['peak_rss_mb']:>12,.0f}  "
                        f"{r['version']}")
    return "\n".join(rows)


def _ratios(by_name):
    ratios = {}
    for mine in ("ours", "ours_xla"):
        for other in ("keras", "torch"):
            if mine in by_name and other in by_name:
                for kind in ("train", "eval"):
                    key = f"{kind}_images_per_second"
                    ratios[f"{mine}/{other} {kind}"] = by_name[mine][key] / by_name[other][key]
    if "ours" in by_name and "keras" in by_name:
        ratios["ours/keras eval (Keras at its default batch 32)"] = (
            by_name["ours"]["eval_images_per_second"]
            / by_name["keras"]["eval_images_per_second_default_batch"])
    return ratios


def main(argv):
    del argv
    if FLAGS.worker:
        return _run_worker(FLAGS.worker)
    unknown = sorted(set(FLAGS.frameworks) - set(FRAMEWORKS))
    if unknown:
        _app.fail(f"--frameworks: unknown {', '.join(unknown)}; expected some of "
                  f"{', '.join(FRAMEWORKS)}", status=2)
    rounds = {name: [] for name in FLAGS.frameworks}
    for round_ in range(FLAGS.rounds):
        for name in FLAGS.frameworks:
            print(f"round {round_ + 1}/{FLAGS.rounds}: measuring {name} ...", flush=True)
            rounds[name].append(_measure(name))
    results = [_median_of_rounds(runs) for runs in rounds.values()]
    print(_table(results))
    by_name = {r["framework"]: r for r in results if "skipped" not in r}
    ratios = _ratios(by_name)
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}x")
    print(json.dumps({"device": FLAGS.device, "batch_size": FLAGS.batch_size,
                      "cpu_count": os.cpu_count(), "results": results, "ratios": ratios}))


if __name__ == "__main__":
    _app.run(main)
