"""bin/ablate.py: every row undoes a real setting of the recipe, and a cut-down run (two rows,
one seed, three steps each, real child processes of bin/train.py) reports what the children
wrote."""

import json
import os
import sys

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
    assert "recipe" in ablate.ROWS and ablate.ROWS["recipe"][1] == []
    for row, (_, flags, path) in ablate.ROWS.items():
        assert os.path.isfile(os.path.join(ROOT, path)), (row, path)
        for flag in flags:
            name, _, value = flag[2:].partition("=")
            name = name.removeprefix("no") if name not in fields else name
            assert name in fields, (row, flag)
            was = recipe.get(name) or ("false" if f"no{name}" in recipe else None)
            assert was != (value or "true"), (row, flag)  # it really differs from the recipe


def test_a_cut_down_run_reports_each_child_s_metrics(tmp_path, real_mnist_dir):
    extra = ["--epochs=1", "--steps_per_epoch=3", f"--data_dir={real_mnist_dir}"]
    lines = []
    results = ablate.run_all(["recipe", "float32"], [0], ablate.FLAGS_DEFAULT_RECIPE,
                             str(tmp_path), extra, timeout=300, log=lines.append)
    summary = ablate.summarize(results)
    for row, entry in zip(["recipe", "float32"], summary):
        logdir = tmp_path / f"{row}-seed0"
        metrics = json.loads((logdir / "metrics.json").read_text())
        config = json.loads((logdir / "config.json").read_text())
        assert config["precision"] == ("mixed_bfloat16" if row == "recipe" else "float32")
        assert config["model"] == "fast_cnn" and config["seed"] == 0
        assert entry["accuracy_median"] == entry["accuracy_min"] == metrics["test_accuracy"]
        assert entry["steps"] == metrics["steps"] == 3
        assert entry["wall"] > metrics["wall_seconds"] > 0  # launch to exit holds the run
    assert summary[0]["vs_recipe"] == 1.0 and len(lines) == 2
    markdown = ablate.table(summary, markdown=True)
    assert "[bfloat16 compute → float32](mnist_tf/precision.py)" in markdown
    assert markdown.count("\n") == 3  # header, rule, two rows
