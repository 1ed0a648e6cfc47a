"""bin/benchmark.py: a quick run of three rows gives the tables, the CPU line and a JSON last line.

This is the area's one run of the parent with its child processes (the README's benchmark
commands run their rows' child code in-process, tests/test_readme.py): two training rows, whose
steps_per_loop goal it reports, and one serving row, whose model it exports first.
"""

import json
import sys

import pytest

from binaries import BIN, assert_one_line_error, run_main

sys.path.insert(0, BIN)
import benchmark_report as report  # noqa: E402
import benchmark_serve as serve  # noqa: E402

pytestmark = pytest.mark.slow  # real MNIST, three child processes (the benchmark's own rows)


def test_three_rows_one_round_give_the_tables_and_the_json_line(small_mnist_env):
    result = run_main("benchmark", "--rows=ours,ours/steps_per_loop,serve/litert",
                      "--steps_per_loop=2", "--warmup=2", "--steps=3", "--repeats=1",
                      "--rounds=1", "--latency_calls=10", "--eval_images=1000",
                      "--eval_batch_size=500", env=small_mnist_env)  # the first digits
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert [r["row"] for r in summary["results"]] == ["ours", "ours/steps_per_loop"]
    for row in summary["results"]:
        assert "skipped" not in row, row
        assert row["train_images_per_second"] > 0 and row["eval_images_per_second"] > 0
        assert row["peak_rss_mb"] > 0 and row["rounds"] == 1
        assert row["train_images_per_second_by_round"] == [row["train_images_per_second"]]
    [litert] = summary["serving"]  # exported from the untrained seed-0 network (the default)
    assert litert["row"] == "serve/litert" and "skipped" not in litert, litert
    assert 0 < litert["latency_p50_ms"] <= litert["latency_p99_ms"], litert
    assert litert["eval_images_per_second"] > 0 and litert["peak_rss_mb"] > 0
    assert litert["rounds"] == 1 and "train_images_per_second_by_round" not in litert
    assert report.table(summary["results"]) in result.stdout  # what test_readme checks shapes of
    assert serve.table(summary["serving"]) in result.stdout
    assert ("serving: single-image latency over 10 calls, batch throughput at 500 over the "
            "first 1,000 test images") in lines
    assert summary["steps_per_loop"] == 2 and "bfloat16/AVX-512 flags:" in summary["cpu"]
    assert any(line.startswith("CPU: ") for line in lines)
    ours, grouped = summary["results"]
    goal = summary["goals"]["ours steps_per_loop=N / N=1"]
    ratio = grouped["train_images_per_second"] / ours["train_images_per_second"]
    assert goal == {"ratio": pytest.approx(ratio), "goal": 1.0, "met": ratio >= 1.0}
    verdict = "met" if ratio >= 1.0 else f"missed by {1.0 - ratio:.2f}x"
    assert f"ours steps_per_loop=2 / N=1 train: {ratio:.2f}x  (goal >= 1.0x: {verdict})" in lines


def test_bad_rows_and_too_long_keras_runs_are_one_line_errors():
    assert_one_line_error(run_main("benchmark", "--rows=ours,resnet"),
                          "--rows: unknown resnet")
    assert_one_line_error(run_main("benchmark", "--frameworks=keras", "--steps=200",
                                   "--repeats=5"), "more than one epoch")
