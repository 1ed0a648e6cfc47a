"""bin/benchmark.py: a quick run of two rows gives a table, the CPU line and a JSON last line."""

import json

import pytest

from binaries import assert_one_line_error, run_binary

pytestmark = pytest.mark.slow  # real MNIST, two child processes


def test_two_rows_one_round_give_the_json_line():
    result = run_binary("benchmark", "--rows=ours,ours/steps_per_loop", "--steps_per_loop=2",
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
    goal = summary["goals"]["ours steps_per_loop=N / N=1"]
    assert goal["goal"] == 1.0 and goal["ratio"] > 0 and goal["met"] in (True, False)
    assert any(line.startswith("ours steps_per_loop=2 / N=1 train: ") for line in lines)


def test_bad_rows_and_too_long_keras_runs_are_one_line_errors():
    assert_one_line_error(run_binary("benchmark", "--rows=ours,resnet"),
                          "--rows: unknown resnet")
    assert_one_line_error(run_binary("benchmark", "--frameworks=keras", "--steps=200",
                                     "--repeats=5"), "more than one epoch")
