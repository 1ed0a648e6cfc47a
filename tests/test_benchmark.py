"""bin/benchmark.py: a quick run of two rows gives a table, the CPU line and a JSON last line."""

import json

import pytest

from binaries import assert_one_line_error, run_main

pytestmark = pytest.mark.slow  # real MNIST, two child processes (the benchmark's own rows)


def test_two_rows_one_round_give_the_json_line():
    result = run_main("benchmark", "--rows=ours,ours/steps_per_loop", "--steps_per_loop=2",
                      "--warmup=2", "--steps=3", "--repeats=1", "--rounds=1",
                      "--eval_batch_size=5000")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert [r["row"] for r in summary["results"]] == ["ours", "ours/steps_per_loop"]
    for row in summary["results"]:
        assert "skipped" not in row, row
        assert row["train_images_per_second"] > 0 and row["eval_images_per_second"] > 0
        assert row["peak_rss_mb"] > 0 and row["rounds"] == 1
        assert row["train_images_per_second_by_round"] == [row["train_images_per_second"]]
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
