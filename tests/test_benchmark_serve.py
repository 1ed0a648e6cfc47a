"""bin/benchmark_serve.py: the serve/* rows time real calls of each runtime (no speed asserted)."""

import os

import pytest

import sys

from binaries import BIN

sys.path.insert(0, BIN)
import benchmark_serve as serve
from benchmark_report import median_of_rounds

pytestmark = pytest.mark.slow


def test_latency_and_throughput_rows_for_the_file_formats(deployed, mnist):
    directory = os.path.dirname(deployed["litert"].path)
    results = []
    for row in ("serve/litert", "serve/litert_int8", "serve/onnx"):
        measured = serve.measure(row, directory, mnist.x_test[:2000], warmup=3,
                                 latency_calls=20, eval_batch_size=500, repeats=1)
        assert 0 < measured["latency_p50_ms"] <= measured["latency_p99_ms"], measured
        assert measured["eval_images_per_second"] > 0 and measured["version"]
        results.append(median_of_rounds([{"row": row, **measured, "peak_rss_mb": 1.0}] * 2))
    assert results[0]["rounds"] == 2 and "train_images_per_second_by_round" not in results[0]
    lines = serve.table(results).splitlines()
    assert lines[0].split()[:3] == ["row", "p50", "ms"] and len(lines) == 4
    reference = dict(results[0], row="serve/savedmodel", latency_p50_ms=1.0,
                     eval_images_per_second=100.0)
    ratios = serve.ratios({r["row"]: r for r in [reference, *results]})
    assert ratios["serve/onnx / serve/savedmodel p50 latency"] == pytest.approx(
        1.0 / results[2]["latency_p50_ms"])
