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
    explain                       one bin/serve.py request: p50/p95 latency (goal p50 <= 150 ms)

Each row runs in a child process of its own (so that one's memory and thread
pools do not disturb another's, and peak RSS is its own), on the same machine,
data (real MNIST), network and batch size. The children run in ``--rounds``
interleaved rounds (ours, keras, torch, ours, keras, torch, ...) so that a slow
spell of a shared machine hurts all of them alike; each result is the median
over rounds. A child measures steady-state training throughput: ``--warmup``
steps first (tracing, allocation), then ``--repeats`` windows of ``--steps``
steps, the median images/s (a row running N steps per call rounds both up to
multiples of N); then evaluation throughput over the 10,000 test images (the
first ``--eval_images`` of them for a quicker look; median of ``--repeats``
passes) at ``--eval_batch_size`` for every row, and for Keras
also at ``model.evaluate``'s own default batch size (32), which is what a Keras
user gets without asking. Our steps keep their loss on the device, as the
training loop does (it reads back every ``log_every`` steps); each window ends
with one read. Peak RSS is the child's ``ru_maxrss``.

Beside the table: the CPU's model and its bfloat16/AVX-512 flags, and the ratios
of the speed knobs with their goals (manual/tape; ours mixed_bfloat16 against
ours float32, goal ≥ 1.3x on a CPU with native bfloat16, and against Keras
under the same policy, goal ≥ 1.1x; steps_per_loop against one step per call,
goal ≥ 1.0x). The goals are goals, measured in one interleaved run, not tests.
The last line of output is JSON.

The serving rows (``serve/savedmodel``, ``serve/litert``, ``serve/litert_int8``,
``serve/onnx``) time inference in each deployment runtime instead: single-image
latency p50/p99 and batch throughput (``bin/benchmark_serve.py``), with each
runtime's ratio to the SavedModel; the parent exports the models once first.

Files: this one runs the rounds of children; ``bin/benchmark_rows.py`` is what a
child measures, ``bin/benchmark_report.py`` the table and the ratios,
``bin/benchmark_serve.py`` the serving rows. Keras and
PyTorch are imported only in the children, in bin/ and in tests, never in mnist_tf/.
"""

import _app  # first: quiets TensorFlow before it is imported

import json
import os
import subprocess
import sys
import tempfile

from absl import flags

import benchmark_report as report
import benchmark_serve as serve
from benchmark_rows import ROWS, Timing, measure_row, row_setup
from mnist_tf import precision
from mnist_tf.runs.report import peak_rss_mb

FLAGS = flags.FLAGS
ALL_ROWS = (*ROWS, *serve.SERVE_ROWS)
flags.DEFINE_list("rows", list(ALL_ROWS),
                  f"Which rows to measure, from {', '.join(ALL_ROWS)} (torch is skipped with a "
                  "note when it is not installed).")
flags.DEFINE_alias("frameworks", "rows")
flags.DEFINE_integer("batch_size", 128, "Training batch size for every row.", lower_bound=1)
flags.DEFINE_integer("eval_batch_size", 1000, "Evaluation batch size for every row.",
                     lower_bound=1)
flags.DEFINE_integer("eval_images", 10_000, "Test images per evaluation pass, the first N of "
                     "the 10,000, for every row (fewer: a quicker look).", lower_bound=1,
                     upper_bound=10_000)
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
flags.DEFINE_integer("latency_calls", 1000, "serve/* rows: single-image calls timed for the "
                     "latency percentiles.", lower_bound=1)
flags.DEFINE_string("serve_checkpoint", None, "serve/* rows: the trained run (logdir or "
                    "checkpoint) to export (default: the untrained seed-0 network, as fast).")
flags.DEFINE_string("worker", None, "Internal: run one row and print its JSON.")
flags.DEFINE_string("serve_dir", None, "Internal: where the parent wrote the serve/* models.")


def _run_worker(name, timing, steps_per_loop, device, data_dir):
    from mnist_tf import devices
    from mnist_tf.data import sources

    devices.select_device(device)
    data = sources.load(data_dir)
    data = data._replace(x_test=data.x_test[:FLAGS.eval_images],
                         y_test=data.y_test[:FLAGS.eval_images])
    if name in serve.SERVE_ROWS:
        print(json.dumps({"row": name, **serve.measure(
            name, FLAGS.serve_dir, data.x_test, timing.warmup, FLAGS.latency_calls,
            timing.eval_batch_size, timing.repeats), "peak_rss_mb": peak_rss_mb()}))
        return
    train, evaluation, version, extra = measure_row(name, data, timing, steps_per_loop)
    print(json.dumps({"row": name, "train_images_per_second": train,
                      "eval_images_per_second": evaluation, "peak_rss_mb": peak_rss_mb(),
                      "version": version, **extra}))


def _measure(name, argv):
    """Runs one row in a child process (``argv``: the flags); its result, or why it was
    skipped."""
    if name in ROWS and ROWS[name][0] == "torch":
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


def main(argv):
    del argv
    timing = Timing(FLAGS.batch_size, FLAGS.eval_batch_size, FLAGS.warmup, FLAGS.steps,
                    FLAGS.repeats)
    if FLAGS.worker:
        return _run_worker(FLAGS.worker, timing, FLAGS.steps_per_loop, FLAGS.device,
                           FLAGS.data_dir)
    unknown = [name for name in FLAGS.rows if name not in ALL_ROWS]
    if unknown:
        _app.fail(f"--rows: unknown {', '.join(unknown)}; expected some of {', '.join(ALL_ROWS)}",
                  status=2)
    one_epoch = 60_000 // FLAGS.batch_size  # model.fit(x, y, steps_per_epoch) stops after it
    for name in (n for n in FLAGS.rows if n in ROWS):
        row_timing = row_setup(name, timing, FLAGS.steps_per_loop)[2]
        total = row_timing.warmup + row_timing.steps * row_timing.repeats
        if ROWS[name][0] == "keras" and total > one_epoch:
            _app.fail(f"--warmup + --steps × --repeats is {total} steps for {name}, more than "
                      f"one epoch of the arrays ({one_epoch} at batch {FLAGS.batch_size})",
                      status=2)
    cpu = precision.cpu_description()
    native_bfloat16 = precision.native_bfloat16_note() is None
    serve_rows = [name for name in FLAGS.rows if name in serve.SERVE_ROWS]
    with tempfile.TemporaryDirectory(prefix="mnist_tf_benchmark_") as serve_dir:
        if serve_rows:
            print(f"exporting {', '.join(serve_rows)} ...", flush=True)
            with _app.quiet_stderr():  # the LiteRT converter's own lines
                serve.prepare(serve_rows, serve_dir, FLAGS.serve_checkpoint, FLAGS.data_dir)
        rounds = {name: [] for name in FLAGS.rows}
        for round_ in range(FLAGS.rounds):
            for name in FLAGS.rows:
                print(f"round {round_ + 1}/{FLAGS.rounds}: measuring {name} ...", flush=True)
                rounds[name].append(_measure(name, [*sys.argv[1:], f"--serve_dir={serve_dir}"]))
    results = [report.median_of_rounds(runs) for runs in rounds.values()]
    serve_results = [r for r in results if r["row"] in serve.SERVE_ROWS]
    results = [r for r in results if r["row"] not in serve.SERVE_ROWS]
    print(f"CPU: {cpu} ({os.cpu_count()} logical CPUs); batch {FLAGS.batch_size}, "
          f"N = {FLAGS.steps_per_loop} steps per call in the steps_per_loop/execution rows")
    if not native_bfloat16 and any("bfloat16" in name for name in FLAGS.rows):
        print(precision.native_bfloat16_note())
    if results:
        print(report.table(results))
    if serve_results:
        images = ("the 10,000" if FLAGS.eval_images == 10_000
                  else f"the first {FLAGS.eval_images:,}")
        print(f"serving: single-image latency over {FLAGS.latency_calls} calls, batch "
              f"throughput at {FLAGS.eval_batch_size} over {images} test images")
        print(serve.table(serve_results))
    by_name = {r["row"]: r for r in results + serve_results if "skipped" not in r}
    ratios = {**report.ratios(by_name), **serve.ratios(by_name)}
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}x")
    goals = report.goals(by_name, native_bfloat16)
    for label, entry in goals.items():
        print(report.goal_line(label, entry, FLAGS.steps_per_loop))
    if report.explain_goal_line(by_name):
        print(report.explain_goal_line(by_name))
    print(json.dumps({"device": FLAGS.device, "batch_size": FLAGS.batch_size,
                      "steps_per_loop": FLAGS.steps_per_loop, "cpu": cpu,
                      "native_bfloat16": native_bfloat16, "cpu_count": os.cpu_count(),
                      "rounds": FLAGS.rounds, "results": results, "serving": serve_results,
                      "ratios": ratios,
                      "goals": goals}))


if __name__ == "__main__":
    _app.run(main)
