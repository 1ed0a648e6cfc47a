"""bin/predict.py and bin/export.py as a user runs them: good files, broken files, bad models.

In-process (``run_main``) but for one real process: the missing model's error line.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from binaries import assert_one_line_error, run_binary, run_main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(mnist, tmp_path_factory):
    """Two test digits as PNG (light paper), their labels, an IDX file, and three broken files."""
    from mnist_tf.data import idx

    directory = tmp_path_factory.mktemp("predict")
    good = []
    for i in (0, 1):
        path = str(directory / f"digit{i}.png")
        tf.io.write_file(path, tf.io.encode_png(255 - mnist.x_test[i][..., None]))
        good.append(path)
    idx_images = str(directory / "five-images-idx3-ubyte")
    idx.write_idx(idx_images, mnist.x_test[:5])
    idx_labels = str(directory / "five-labels-idx1-ubyte")
    idx.write_idx(idx_labels, mnist.y_test[:5])
    noise = str(directory / "noise.png")
    with open(noise, "wb") as f:
        f.write(np.random.default_rng(0).bytes(300))
    text = str(directory / "notes.txt")
    with open(text, "w") as f:
        f.write("this is not a digit\n")
    return {"good": good, "labels": [int(y) for y in mnist.y_test[:5]], "idx": idx_images,
            "idx_labels": idx_labels, "broken": [noise, text, str(directory / "missing.png")]}


def test_broken_files_fail_alone(trained_run, files):
    good, broken = files["good"], files["broken"]
    result = run_main("predict", "--model", trained_run.export_dir,
                      good[0], broken[0], broken[1], good[1], broken[2], files["idx_labels"])
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 4, result.stderr
    for line, path in zip(errors, broken + [files["idx_labels"]]):
        assert line.startswith(f"error: {path}: "), line
    assert "labels file" in errors[3]
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == good
    for line, label in zip(lines, files["labels"]):
        assert line.split()[1] == str(label), line  # "digit0.png: 7  (7 99.9%, ...)"


def test_json_output_from_a_checkpoint_logdir(trained_run, files):
    result = run_main("predict", "--model", trained_run.logdir, "--json",
                      files["good"][0], files["idx"])
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(records) == 1 + 5
    assert records[0]["file"] == files["good"][0] and "index" not in records[0]
    assert [r["index"] for r in records[1:]] == list(range(5))
    for record, label in zip(records, files["labels"][:1] + files["labels"]):
        assert len(record["probabilities"]) == 10
        assert sum(record["probabilities"]) == pytest.approx(1.0, abs=1e-5)
        assert record["digit"] == int(np.argmax(record["probabilities"])) == label


def test_a_missing_model_is_a_one_line_error_whatever_the_callers_log_level(files):
    """The suite's one real process for an error raised in a binary's main: what the terminal
    shows (absl's top level, file descriptor 2 with TensorFlow's C++ start-up and device
    search) is one line. TF_CPP_MIN_LOG_LEVEL=2, as a caller may hold it, once let
    TensorFlow's "failed call to cuInit" line through: the binary quiets it itself. No
    --model at all: test_predict_errors.py."""
    result = run_binary("predict", "--model", "no/such/model", files["good"][0],
                        env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    assert_one_line_error(result, "no/such/model")


def test_export_binary(trained_run, tmp_path):
    out = str(tmp_path / "exported")
    result = run_main("export", "--checkpoint_dir", trained_run.logdir, "--export_dir", out)
    assert result.returncode == 0, result.stderr
    assert f"export: {out}" in result.stdout
    assert "images: uint8 [None, 28, 28]" in result.stdout
    assert "probabilities: float32 [None, 10]" in result.stdout
    assert "digit: int64 [None]" in result.stdout
    assert tf.saved_model.contains_saved_model(out)
    assert_one_line_error(
        run_main("export", "--checkpoint_dir", str(tmp_path), "--export_dir", out + "2"),
        "no checkpoint")
    assert not os.path.exists(out + "2")
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert_one_line_error(
        run_main("export", "--checkpoint_dir", trained_run.logdir, "--export_dir",
                 str(tmp_path)),
        "is not a SavedModel")
    # the refused export touched nothing in the directory
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
