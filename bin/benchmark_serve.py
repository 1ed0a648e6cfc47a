"""The serving rows of ``bin/benchmark.py``: the trained network in each deployment runtime.

    serve/savedmodel     tf.saved_model.load(...).signatures["serving_default"]
    serve/litert         the float32 .tflite in ai_edge_litert's Interpreter (XNNPACK)
    serve/litert_int8    the int8 .tflite, the same Interpreter
    serve/onnx           the .onnx in ONNX Runtime (CPU execution provider)

All are called through ``mnist_tf.deploy.predictor.load_predictor``, uint8 pixels in
and probabilities out, as ``bin/predict.py`` calls them. A child measures:

- **single-image latency**: ``latency_calls`` calls on one test image each (a
  different image each call, after ``warmup`` calls), p50 and p99 of the
  per-call wall times in ms;
- **batch throughput**: the test images (all 10,000, or the first
  ``--eval_images``) in batches of ``eval_batch_size``, ``repeats`` passes,
  the median images/s.

The files are made once by the parent (``prepare``) into a scratch directory: from
``--serve_checkpoint`` (a trained run) if given, else from the reference CNN's
untrained seed-0 weights (the speed of a network does not depend on its weights;
the int8 calibration still runs, on training images).
"""

import os
import statistics
import time

import numpy as np

SERVE_ROWS = ("serve/savedmodel", "serve/litert", "serve/litert_int8", "serve/onnx")
FILES = {"serve/savedmodel": "export", "serve/litert": "model.tflite",
         "serve/litert_int8": "model_int8.tflite", "serve/onnx": "model.onnx"}
VERSIONS = {"serve/savedmodel": "tensorflow", "serve/litert": "ai-edge-litert",
            "serve/litert_int8": "ai-edge-litert", "serve/onnx": "onnxruntime"}


def prepare(rows, directory: str, checkpoint: str = None, data_dir: str = None) -> None:
    """Writes the SavedModel and the files ``rows`` need into ``directory``."""
    from mnist_tf import export, models
    from mnist_tf.data import sources
    from mnist_tf.deploy import files, formats

    if checkpoint:
        from mnist_tf.runs import saved_runs

        model, _ = saved_runs.load_model(checkpoint)
    else:
        model = models.build(models.keras_example_cnn(seed=0))
    saved_model = export.export_saved_model(model, os.path.join(directory, "export"))
    x_train = sources.load(data_dir).x_train
    for row in rows:
        fmt = row.split("/", 1)[1]
        if fmt != "savedmodel":
            files.write_atomic(os.path.join(directory, FILES[row]),
                               formats.convert(fmt, saved_model, x_train))


def _version(row: str) -> str:
    from importlib import metadata

    return metadata.version(VERSIONS[row])


def measure(row: str, directory: str, x_test, warmup: int, latency_calls: int,
            eval_batch_size: int, repeats: int) -> dict:
    """Row ``row``'s latency percentiles (ms) and batch throughput (images/s)."""
    from mnist_tf.deploy.predictor import load_predictor

    predictor = load_predictor(os.path.join(directory, FILES[row]))
    predictor.BATCH = eval_batch_size
    for i in range(warmup):
        predictor(x_test[i:i + 1])
    times = []
    for i in range(latency_calls):
        image = x_test[i % len(x_test):i % len(x_test) + 1]
        start = time.perf_counter()
        predictor(image)
        times.append(time.perf_counter() - start)
    predictor(x_test[:eval_batch_size])  # warm-up at the batch size
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        predictor(x_test)
        rates.append(len(x_test) / (time.perf_counter() - start))
    p50, p99 = np.percentile(np.array(times) * 1e3, [50, 99])
    return {"latency_p50_ms": float(p50), "latency_p99_ms": float(p99),
            "eval_images_per_second": statistics.median(rates), "version": _version(row)}


def table(results) -> str:
    """The serving rows as text: latency p50/p99, batch throughput, peak RSS, version."""
    width = max(len("row"), *(len(r["row"]) for r in results))
    lines = [f"{'row':<{width}} {'p50 ms':>8} {'p99 ms':>8} {'batch img/s':>12} "
             f"{'peak RSS MB':>12}  version"]
    for r in results:
        if "skipped" in r:
            lines.append(f"{r['row']:<{width}} skipped: {r['skipped']}")
        else:
            lines.append(f"{r['row']:<{width}} {r['latency_p50_ms']:>8.3f} "
                         f"{r['latency_p99_ms']:>8.3f} {r['eval_images_per_second']:>12,.0f} "
                         f"{r['peak_rss_mb']:>12,.0f}  {r['version']}")
    return "\n".join(lines)


def ratios(by_name) -> dict:
    """Each runtime against the SavedModel: how many times faster (p50 latency, batch img/s)."""
    found = {}
    reference = by_name.get("serve/savedmodel")
    for row in SERVE_ROWS[1:]:
        if reference and row in by_name:
            found[f"{row} / serve/savedmodel p50 latency"] = (
                reference["latency_p50_ms"] / by_name[row]["latency_p50_ms"])
            found[f"{row} / serve/savedmodel batch"] = (
                by_name[row]["eval_images_per_second"] / reference["eval_images_per_second"])
    return found
