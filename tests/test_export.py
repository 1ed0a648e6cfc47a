"""SavedModel export: signature, equality with the library, atomic writes, loading without mnist_tf."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import export, models
from mnist_tf.errors import MnistTfError
from trained_model import accuracy


@pytest.fixture(scope="module")
def model():
    model = models.keras_example_cnn(seed=0)
    models.build(model)
    return model


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    return export.export_saved_model(model, str(tmp_path_factory.mktemp("export") / "model"))


def random_images(n=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def library_probabilities(model, images):
    x = tf.constant(images.astype(np.float32)[..., None] / 255.0)
    return np.asarray(models.predict_probabilities(model, x))


def test_signature_dtypes_and_shapes(exported):
    signature = tf.saved_model.load(exported).signatures["serving_default"]
    _, inputs = signature.structured_input_signature
    assert list(inputs) == ["images"]
    assert inputs["images"].dtype == tf.uint8 and inputs["images"].shape.as_list() == [None, 28, 28]
    outputs = signature.structured_outputs
    assert outputs["probabilities"].dtype == tf.float32
    assert outputs["probabilities"].shape.as_list() == [None, 10]
    assert outputs["digit"].dtype == tf.int64 and outputs["digit"].shape.as_list() == [None]
    assert "probabilities: float32 [None, 10]" in export.describe_signature(exported)


def test_saved_model_equals_the_library(model, exported):
    images = random_images()
    result = tf.saved_model.load(exported).signatures["serving_default"](images=images)
    expected = library_probabilities(model, images)
    np.testing.assert_allclose(result["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(result["digit"].numpy(), expected.argmax(-1))


def test_any_batch_size_including_one(exported):
    predictor = export.load_predictor(exported)
    batch = random_images(3)
    np.testing.assert_allclose(predictor(batch[:1]), predictor(batch)[:1], atol=1e-6)
    assert predictor(batch).shape == (3, 10)


def test_loadable_where_mnist_tf_cannot_be_imported(model, exported):
    # A fresh interpreter in which importing mnist_tf fails (a meta-path hook refuses it, whatever
    # sys.path or the editable install say): the SavedModel alone must give the same numbers.
    images = random_images(4)
    script = f"""
import importlib.abc, json, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "mnist_tf":
            raise ImportError("mnist_tf is not available here")
sys.meta_path.insert(0, Refuse())
try:
    import mnist_tf
    sys.exit("mnist_tf was importable")
except ImportError:
    pass
import numpy as np, tensorflow as tf
images = np.array(json.loads(sys.stdin.read()), dtype=np.uint8)
out = tf.saved_model.load({exported!r}).signatures["serving_default"](images=tf.constant(images))
assert not any(m.split(".")[0] == "mnist_tf" for m in sys.modules)
print(json.dumps(out["probabilities"].numpy().tolist()))
"""
    result = subprocess.run([sys.executable, "-c", script], input=json.dumps(images.tolist()),
                            capture_output=True, text=True, cwd="/", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    probabilities = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(probabilities, library_probabilities(model, images), atol=1e-5)


def test_export_replaces_atomically(model, tmp_path):
    target = str(tmp_path / "model")
    export.export_saved_model(model, target)
    images = random_images(4)
    before = export.load_predictor(target)(images)
    original = [v.numpy() for v in model.trainable_variables]
    try:
        for v in model.trainable_variables:
            v.assign(v * 0.5)
        export.export_saved_model(model, target)
        after = export.load_predictor(target)(images)
        np.testing.assert_allclose(after, library_probabilities(model, images), atol=1e-5)
        assert not np.allclose(before, after)
    finally:
        for v, value in zip(model.trainable_variables, original):
            v.assign(value)
    assert os.listdir(tmp_path) == ["model"]  # no temporary directories left behind


def test_failed_export_keeps_the_old_one(model, tmp_path, monkeypatch):
    target = str(tmp_path / "model")
    export.export_saved_model(model, target)
    saved_pb = open(os.path.join(target, "saved_model.pb"), "rb").read()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(model, target)
    assert os.listdir(tmp_path) == ["model"]
    assert open(os.path.join(target, "saved_model.pb"), "rb").read() == saved_pb


@pytest.mark.parametrize("occupant", ["file", "directory"])
def test_export_never_overwrites_what_is_not_a_saved_model(model, tmp_path, occupant):
    target = tmp_path / "precious"
    if occupant == "file":
        target.write_text("notes")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("notes")
    with pytest.raises(MnistTfError, match="precious exists and is not a SavedModel") as error:
        export.export_saved_model(model, str(target))
    assert "\n" not in str(error.value)
    kept = target if occupant == "file" else target / "notes.txt"
    assert kept.read_text() == "notes"
    assert sorted(os.listdir(tmp_path)) == ["precious"]


def test_export_into_an_empty_directory_and_readable_by_others(model, tmp_path):
    target = tmp_path / "empty"
    target.mkdir()
    old_umask = os.umask(0o022)
    try:
        export.export_saved_model(model, str(target))
    finally:
        os.umask(old_umask)
    assert tf.saved_model.contains_saved_model(str(target))
    assert os.stat(target).st_mode & 0o777 == 0o755


def test_predictor_from_checkpoint_equals_saved_model(model, exported, tmp_path):
    checkpoint_dir = str(tmp_path / "checkpoints")
    prefix = tf.train.Checkpoint(model=model).save(os.path.join(checkpoint_dir, "ckpt"))
    images = random_images(8)
    expected = export.load_predictor(exported)(images)
    for path in (prefix, checkpoint_dir, str(tmp_path)):  # prefix, directory, run logdir
        predictor = export.load_predictor(path)
        assert predictor.source == f"checkpoint {prefix}"
        np.testing.assert_allclose(predictor(images), expected, atol=1e-5)


def test_predictor_from_an_empty_directory_is_a_one_line_error(tmp_path):
    # A path that does not exist: through bin/predict.py in test_predict_bin.py.
    with pytest.raises(MnistTfError) as error:
        export.load_predictor(str(tmp_path))
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_trained_export_matches_library_on_test_digits(trained_run, mnist):
    from mnist_tf.runs import saved_runs

    model, _ = saved_runs.load_model(trained_run.logdir)
    images = mnist.x_test[:2000]
    np.testing.assert_allclose(trained_run.predictor(images), library_probabilities(model, images),
                               atol=1e-5)
    test_accuracy = accuracy(trained_run.predictor, mnist.x_test, mnist.y_test)
    assert test_accuracy == pytest.approx(trained_run.metrics["test_accuracy"], abs=1e-4)
