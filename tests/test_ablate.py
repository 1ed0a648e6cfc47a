"""bin/ablate.py: every row undoes a real setting of the recipe; a cut-down run (one row, one
seed, three steps: a real child process of bin/train.py, timed from launch to exit) reports
what the child wrote; the summary compares every row with the recipe over its seeds."""

import json
import os
import sys

import pytest

from binaries import BIN

sys.path.insert(0, BIN)
import ablation as ablate  # noqa: E402  (bin/ablation.py: bin/ablate.py's rows and runs)

from mnist_tf.training import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _recipe_settings():
    path = os.path.join(ROOT, "bin", "flags", "fast.flags")
    lines = [line.strip() for line in open(path) if line.strip().startswith("--")]
    return dict(line[2:].split("=", 1) if "=" in line else (line[2:], "true") for line in lines)


def test_every_row_changes_a_setting_of_the_recipe_and_links_a_real_file():
    recipe = _recipe_settings()
    fields = {f.name for f in config_lib.dataclasses.fields(config_lib.TrainConfig)}
    fields.add("onednn")  # bin/train.py's flag for the process's kernels, not a run setting
    assert "recipe" in ablate.ROWS and ablate.ROWS["recipe"][1] == []
    for row, (_, flags, path) in ablate.ROWS.items():
        assert os.path.isfile(os.path.join(ROOT, path)), (row, path)
        for flag in flags:
            name, _, value = flag[2:].partition("=")
            name = name.removeprefix("no") if name not in fields else name
            assert name in fields, (row, flag)
            was = recipe.get(name) or ("false" if f"no{name}" in recipe else None)
            assert was != (value or "true"), (row, flag)  # it really differs from the recipe


def test_a_cut_down_run_times_its_child_and_reports_what_it_wrote(tmp_path, small_mnist_env,
                                                                  monkeypatch):
    for name, value in small_mnist_env.items():  # the child reads the first digits of MNIST
        monkeypatch.setenv(name, value)
    extra = ["--epochs=1", "--steps_per_epoch=3"]
    lines = []
    results = ablate.run_all(["network"], [0], ablate.FLAGS_DEFAULT_RECIPE, str(tmp_path),
                             extra, timeout=300, log=lines.append)
    [entry] = ablate.summarize(results)
    logdir = tmp_path / "network-seed0"
    metrics = json.loads((logdir / "metrics.json").read_text())
    config = json.loads((logdir / "config.json").read_text())
    assert _recipe_settings()["model"] == "fast_cnn"
    assert config["model"] == "keras_example_cnn"  # the row's flag, over the recipe's
    assert config["lr_schedule"] == "one_cycle" and config["seed"] == 0  # the recipe's
    assert entry["accuracy_median"] == entry["accuracy_min"] == metrics["test_accuracy"]
    assert entry["steps"] == metrics["steps"] == 3
    assert entry["runs"] == 1 and entry["failed"] == 0
    assert entry["wall"] > metrics["wall_seconds"] > 0  # launch to exit holds the run
    assert lines == [f"network seed 0: {metrics['test_accuracy']:.4f}, {entry['wall']:.1f} s"]
    assert ablate.child_command(ablate.FLAGS_DEFAULT_RECIPE, "network", 0, "L", extra)[2:] == [
        f"--flagfile={ablate.FLAGS_DEFAULT_RECIPE}", "--model=keras_example_cnn", "--seed=0",
        "--logdir=L", *extra]  # the row's flags after the recipe's file: they win


def test_the_summary_compares_each_row_with_the_recipe_over_its_seeds():
    def run(seed, wall, accuracy):
        return {"seed": seed, "wall": wall, "accuracy": accuracy, "steps": 938,
                "images_per_second": 60_000 / wall}

    summary = ablate.summarize({
        "recipe": [run(0, 10.0, 0.992), run(1, 12.0, 0.990)],
        "network": [run(0, 5.0, 0.988), {"seed": 1, "error": "exit 1: error: boom"}],
        "bfloat16": [{"seed": 0, "error": "timed out after 300 s"}]})
    recipe, network, failed = summary
    assert recipe["vs_recipe"] == 1.0 and recipe["wall"] == 11.0
    assert recipe["accuracy_median"] == pytest.approx(0.991) and recipe["accuracy_min"] == 0.990
    assert network["vs_recipe"] == 5.0 / 11.0 and (network["runs"], network["failed"]) == (1, 1)
    assert "wall" not in failed and "vs_recipe" not in failed
    markdown = ablate.table(summary, markdown=True)
    assert "[fast_cnn → the Keras example's CNN](mnist_tf/models/fast_cnn.py)" in markdown
    assert markdown.count("\n") == 4  # header, rule, three rows
    assert "| 99.10%, 99.00% | 11.0 | 1.00 |" in markdown and "| failed |" in markdown
    text = ablate.table(summary).splitlines()
    assert text[2].split()[:4] == ["network", "98.80%,", "98.80%", "5.0"]
