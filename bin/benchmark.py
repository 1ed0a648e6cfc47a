"""Training and evaluation throughput of our loop vs Keras `model.fit` vs PyTorch eager, and of
each speed knob (hand-written gradients, mixed precision, many steps per call).

    python bin/benchmark.py                                   # every row, CPU, batch 128
    python bin/benchmark.py --rows=ours,keras --steps=100 --repeats=3
    python bin/benchmark.py --rows=ours,ours/mixed_bfloat16,keras/mixed_bfloat16

The rows (``--rows``, alias ``--frameworks``), all the reference CNN at the same batch size:

    ours                          make_train_step: tape gradients, float32, one step per call
    ours/manual                   the same with --gradients=manual (mnist_tf.backprop)
    ours/mixed_bfloat16           the same with --precision=mixed_bfloat16
    ours/steps_per_loop           make_train_loop: --steps_per_loop steps per call
    ours/xla                      make_train_step(jit_compile=True)
    keras                         model.fit / model.evaluate
    keras/mixed_bfloat16          the same under set_dtype_policy("mixed_bfloat16")
    keras/steps_per_execution     compile(steps_per_execution=--steps_per_loop)
    torch                         PyTorch eager (skipped with a note when not installed)

Each row runs in a child process of its own (so that one's memory and thread
pools do not disturb another's, and peak RSS is its own), on the same machine,
data (real MNIST), network and batch size. The children run in ``--rounds``
interleaved rounds (ours, keras, torch, ours, keras, torch, ...) so that a slow
spell of a shared machine hurts all of them alike; each result is the median
over rounds. A child measures steady-state training throughput: ``--warmup``
steps first (tracing, allocation), then ``--repeats`` windows of ``--steps``
steps, the median images/s (a row running N steps per call rounds both up to
multiples of N); then evaluation throughput over the 10,000 test images (median
of ``--repeats`` passes) at ``--eval_batch_size`` for every row, and for Keras
also at ``model.evaluate``'s own default batch size (32), which is what a Keras
user gets without asking. Our steps keep their loss on the device, as the
training loop does (it reads back every ``log_every`` steps); each window ends
with one read. Peak RSS is the child's ``ru_maxrss``.

Beside the table: the CPU's model and its bfloat16/AVX-512 flags, and the ratios
of issues 14 and 17 with their goals (manual/tape; ours mixed_bfloat16 against
ours float32, goal ≥ 1.3x on a CPU with native bfloat16, and against Keras
under the same policy, goal ≥ 1.1x; steps_per_loop against one step per call,
goal ≥ 1.0x). The goals are goals, measured in one interleaved run, not tests.
The last line of output is JSON.

Keras and PyTorch are imported only in the children, in bin/ and in tests, never in mnist_tf/.
"""

import _app  # first: quiets TensorFlow before it is imported

import dataclasses
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time

from absl import flags

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
# (label, numerator row, denominator row, goal or None): training throughput ratios.
GOALS = [
    ("manual/tape", "ours/manual", "ours", None),
    ("ours mixed_bfloat16 / ours float32", "ours/mixed_bfloat16", "ours", 1.3),
    ("ours mixed_bfloat16 / keras mixed_bfloat16", "ours/mixed_bfloat16",
     "keras/mixed_bfloat16", 1.1),
    ("keras mixed_bfloat16 / keras float32", "keras/mixed_bfloat16", "keras", None),
    ("ours steps_per_loop=N / N=1", "ours/steps_per_loop", "ours", 1.0),
    ("keras steps_per_execution=N / N=1", "keras/steps_per_execution", "keras", None),
    ("ours steps_per_loop / keras steps_per_execution", "ours/steps_per_loop",
     "keras/steps_per_execution", None),
]
NATIVE_BFLOAT16_GOALS = ("ours mixed_bfloat16 / ours float32",)

FLAGS = flags.FLAGS
flags.DEFINE_list("rows", list(ROWS),
                  f"Which rows to measure, from {', '.join(ROWS)} (torch is skipped with a "
                  "note when it is not installed).")
flags.DEFINE_alias("frameworks", "rows")
flags.DEFINE_integer("batch_size", 128, "Training batch size for every row.", lower_bound=1)
flags.DEFINE_integer("eval_batch_size", 1000, "Evaluation batch size for every row.",
                     lower_bound=1)
flags.DEFINE_integer("warmup", 30, "Steps run before timing starts.", lower_bound=1)
flags.DEFINE_integer("steps", 100, "Training steps per timed window.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed windows (and evaluation passes); the median is kept.",
                     lower_bound=1)
flags.DEFINE_integer("rounds", 3, "Interleaved rounds of child processes; the median is kept.",
                     lower_bound=1)
flags.DEFINE_integer("steps_per_loop", 50, "N of the rows ours/steps_per_loop and "
                     "keras/steps_per_execution: training steps per call.", lower_bound=1)
flags.DEFINE_enum("device", "cpu", ("cpu", "gpu"), "Where every row runs.")
flags.DEFINE_string("data_dir", None, "Directory with the four MNIST .gz files (default: cache).")
flags.DEFINE_string("worker", None, "Internal: run one row and print its JSON.")


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


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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
    from mnist_tf.training import steps

    model = models.build(precision.set_policy(models.keras_example_cnn(seed=0), policy))
    optimizer = optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    make = dict(model=model, optimizer=optimizer, jit_compile=jit_compile,
                gradients_fn=steps.GRADIENTS[gradients])
    batches = iter(pipeline.train_dataset(data.x_train, data.y_train, timing.batch_size,
                                          seed=0, epoch=0).repeat())
    if steps_per_loop == 1:
        train_step = steps.make_train_step(**make)
        call = lambda: train_step(*next(batches))  # noqa: E731
    else:
        train_steps, n = steps.make_train_loop(**make), tf.constant(steps_per_loop)
        call = lambda: train_steps(batches, n)  # noqa: E731
    train = _windows(call, steps_per_loop, timing, sync=lambda: int(optimizer.iterations))
    eval_step = steps.make_eval_step(model)
    test = pipeline.eval_dataset(data.x_test, data.y_test, timing.eval_batch_size)

    def evaluate():
        for images, labels in test:
            float(eval_step(images, labels)["loss_sum"])

    return train, _timed_passes(evaluate, len(data.y_test), timing.repeats), tf.__version__, {}


def _keras(data, timing, policy="float32", steps_per_loop=1):
    """``model.fit`` of the Keras twin under the dtype ``policy`` with ``steps_per_execution``
    = steps_per_loop; (train img/s, eval img/s, version, extra)."""
    import keras
    import numpy as np

    import keras_twins

    keras.mixed_precision.set_dtype_policy(policy)
    model = keras_twins.TWINS["keras_example_cnn"]()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=steps_per_loop)
    x = data.x_train[..., None].astype(np.float32) / 255.0
    y = data.y_train.astype(np.int32)

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
    x_test = data.x_test[..., None].astype(np.float32) / 255.0
    y_test = data.y_test.astype(np.int32)
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


def _row_setup(name, timing, steps_per_loop):
    """(runner, its keyword arguments, its Timing) for a row: N-step rows get N and windows
    in whole calls."""
    runner, options = ROWS[name]
    options = dict(options)
    if options.get("steps_per_loop"):
        options["steps_per_loop"] = steps_per_loop
        timing = timing.in_calls_of(steps_per_loop)
    return RUNNERS[runner], options, timing


def _run_worker(name, timing, steps_per_loop, device, data_dir):
    from mnist_tf import devices
    from mnist_tf.data import sources

    devices.select_device(device)
    data = sources.load(data_dir)
    runner, options, timing = _row_setup(name, timing, steps_per_loop)
    train, evaluation, version, extra = runner(data, timing, **options)
    print(json.dumps({"row": name, "train_images_per_second": train,
                      "eval_images_per_second": evaluation, "peak_rss_mb": _peak_rss_mb(),
                      "version": version, **extra}))


def _measure(name, argv):
    """Runs one row in a child process (``argv``: the flags); its result, or why it was
    skipped."""
    if ROWS[name][0] == "torch":
        import importlib.util
        if importlib.util.find_spec("torch") is None:
            return {"row": name, "skipped": "torch is not installed (pip install torch to "
                                            "include it)"}
    args = [a for a in argv if not a.startswith("--worker")]
    child = subprocess.run([sys.executable, os.path.abspath(__file__), f"--worker={name}", *args],
                           capture_output=True, text=True)
    if child.returncode != 0:
        lines = child.stderr.strip().splitlines() or ["no output"]
        return {"row": name, "skipped": f"failed: {lines[-1]}"}
    return json.loads(child.stdout.strip().splitlines()[-1])


def _median_of_rounds(runs):
    """One result per row: the median of each rate over rounds (each round's training rate
    kept too, to show the spread), the largest peak RSS."""
    good = [r for r in runs if "skipped" not in r]
    if not good:
        return runs[0]
    merged = dict(good[0], rounds=len(good))
    for key in good[0]:
        if key.endswith("per_second"):
            merged[key] = statistics.median(r[key] for r in good)
    merged["peak_rss_mb"] = max(r["peak_rss_mb"] for r in good)
    merged["train_images_per_second_by_round"] = [r["train_images_per_second"] for r in good]
    return merged


def _table(results):
    width = max(len("row"), *(len(r["row"]) for r in results))
    rows = [f"{'row':<{width}} {'train img/s':>12} {'rounds min-max':>15} {'eval img/s':>12} "
            f"{'peak RSS MB':>12}  version"]
    for r in results:
        if "skipped" in r:
            rows.append(f"{r['row']:<{width}} skipped: {r['skipped']}")
        else:
            by_round = r["train_images_per_second_by_round"]
            spread = f"{min(by_round):,.0f}-{max(by_round):,.0f}"
            rows.append(f"{r['row']:<{width}} {r['train_images_per_second']:>12,.0f} "
                        f"{spread:>15} {r['eval_images_per_second']:>12,.0f} "
                        f"{r['peak_rss_mb']:>12,.0f}  {r['version']}")
    return "\n".join(rows)


def _ratios(by_name):
    """ours (and ours/xla) against Keras and PyTorch, training and evaluation."""
    ratios = {}
    for mine in ("ours", "ours/xla"):
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


def _goals(by_name, native_bfloat16: bool):
    """The knobs' training ratios: {label: {"ratio", "goal", "met"}} for the rows measured.
    A bfloat16 goal on a CPU without native bfloat16 is recorded with ``"goal": None``."""
    goals = {}
    for label, numerator, denominator, goal in GOALS:
        if numerator in by_name and denominator in by_name:
            ratio = (by_name[numerator]["train_images_per_second"]
                     / by_name[denominator]["train_images_per_second"])
            if label in NATIVE_BFLOAT16_GOALS and not native_bfloat16:
                goal = None
            goals[label] = {"ratio": ratio, "goal": goal,
                            "met": None if goal is None else ratio >= goal}
    return goals


def _goal_line(label, entry, steps_per_loop):
    line = f"{label.replace('=N', f'={steps_per_loop}')} train: {entry['ratio']:.2f}x"
    if entry["goal"] is not None:
        verdict = ("met" if entry["met"]
                   else f"missed by {entry['goal'] - entry['ratio']:.2f}x")
        line += f"  (goal >= {entry['goal']:.1f}x: {verdict})"
    elif label in NATIVE_BFLOAT16_GOALS:
        line += "  (the 1.3x goal is for a CPU with native bfloat16: this one has none)"
    return line


def main(argv):
    del argv
    timing = Timing(FLAGS.batch_size, FLAGS.eval_batch_size, FLAGS.warmup, FLAGS.steps,
                    FLAGS.repeats)
    if FLAGS.worker:
        return _run_worker(FLAGS.worker, timing, FLAGS.steps_per_loop, FLAGS.device,
                           FLAGS.data_dir)
    unknown = [name for name in FLAGS.rows if name not in ROWS]
    if unknown:
        _app.fail(f"--rows: unknown {', '.join(unknown)}; expected some of {', '.join(ROWS)}",
                  status=2)
    one_epoch = 60_000 // FLAGS.batch_size  # model.fit(x, y, steps_per_epoch) stops after it
    for name in FLAGS.rows:
        row_timing = _row_setup(name, timing, FLAGS.steps_per_loop)[2]
        total = row_timing.warmup + row_timing.steps * row_timing.repeats
        if ROWS[name][0] == "keras" and total > one_epoch:
            _app.fail(f"--warmup + --steps × --repeats is {total} steps for {name}, more than "
                      f"one epoch of the arrays ({one_epoch} at batch {FLAGS.batch_size})",
                      status=2)
    cpu = precision.cpu_description()
    native_bfloat16 = precision.native_bfloat16_note() is None
    rounds = {name: [] for name in FLAGS.rows}
    for round_ in range(FLAGS.rounds):
        for name in FLAGS.rows:
            print(f"round {round_ + 1}/{FLAGS.rounds}: measuring {name} ...", flush=True)
            rounds[name].append(_measure(name, sys.argv[1:]))
    results = [_median_of_rounds(runs) for runs in rounds.values()]
    print(f"CPU: {cpu} ({os.cpu_count()} logical CPUs); batch {FLAGS.batch_size}, "
          f"N = {FLAGS.steps_per_loop} steps per call in the steps_per_loop/execution rows")
    if not native_bfloat16 and any("bfloat16" in name for name in FLAGS.rows):
        print(precision.native_bfloat16_note())
    print(_table(results))
    by_name = {r["row"]: r for r in results if "skipped" not in r}
    ratios = _ratios(by_name)
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}x")
    goals = _goals(by_name, native_bfloat16)
    for label, entry in goals.items():
        print(_goal_line(label, entry, FLAGS.steps_per_loop))
    print(json.dumps({"device": FLAGS.device, "batch_size": FLAGS.batch_size,
                      "steps_per_loop": FLAGS.steps_per_loop, "cpu": cpu,
                      "native_bfloat16": native_bfloat16, "cpu_count": os.cpu_count(),
                      "rounds": FLAGS.rounds, "results": results, "ratios": ratios,
                      "goals": goals}))


if __name__ == "__main__":
    _app.run(main)
