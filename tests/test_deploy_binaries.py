"""bin/predict.py and bin/evaluate.py on .tflite and .onnx files: the SavedModel's answers, and
one-line errors for files that are truncated, of another format, or of another input shape."""

import json

import numpy as np
import pytest
import tensorflow as tf

from binaries import assert_one_line_error, run_binary
from binaries import main_status as run_main
from mnist_tf.deploy import files, litert, onnx, predictor
from mnist_tf.errors import MnistTfError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits(mnist, tmp_path_factory):
    """Two test digits as PNG (dark ink on light paper) and five in an IDX file."""
    from mnist_tf.data import idx

    directory = tmp_path_factory.mktemp("digits")
    paths = []
    for i in (0, 1):
        paths.append(str(directory / f"digit{i}.png"))
        tf.io.write_file(paths[-1], tf.io.encode_png(255 - mnist.x_test[i][..., None]))
    paths.append(str(directory / "five-images-idx3-ubyte"))
    idx.write_idx(paths[-1], mnist.x_test[:5])
    return paths


def models_by_format(trained_run, deployed):
    return {"savedmodel": trained_run.export_dir,
            **{fmt: exported.path for fmt, exported in deployed.items()}}


def test_predict_answers_as_the_saved_model_for_every_format(trained_run, deployed, digits,
                                                             mnist):
    text, records = {}, {}
    for fmt, model in models_by_format(trained_run, deployed).items():
        status, out, err = run_main("predict", f"--model={model}", *digits)
        assert status == 0 and not err, err
        text[fmt] = out
        status, out, _ = run_main("predict", f"--model={model}", "--json", *digits)
        records[fmt] = [json.loads(line) for line in out.strip().splitlines()]
    labels = [int(y) for y in mnist.y_test[:2]] + [int(y) for y in mnist.y_test[:5]]
    assert [r["digit"] for r in records["savedmodel"]] == labels
    for fmt in ("litert", "onnx"):  # the same lines, and probabilities to 1e-5
        assert text[fmt] == text["savedmodel"]
        np.testing.assert_allclose([r["probabilities"] for r in records[fmt]],
                                   [r["probabilities"] for r in records["savedmodel"]],
                                   atol=1e-5)
    assert [r["digit"] for r in records["litert_int8"]] == labels
    assert len(text["litert_int8"].splitlines()) == len(labels)


def test_evaluate_reports_as_the_saved_model_for_every_format(trained_run, deployed):
    reports = {}
    for fmt, model in models_by_format(trained_run, deployed).items():
        status, out, err = run_main("evaluate", f"--model={model}")
        assert status == 0, err
        lines = out.strip().splitlines()
        assert lines[0] == f"model: {model}"
        reports[fmt] = (lines[1:-1], json.loads(lines[-1]))
    saved_lines, saved = reports["savedmodel"]
    assert saved["accuracy"] == pytest.approx(trained_run.metrics["test_accuracy"], abs=1e-9)
    assert saved["loss"] == pytest.approx(trained_run.metrics["test"]["loss"], abs=1e-4)
    for fmt in ("litert", "onnx"):
        lines, report = reports[fmt]
        assert lines == saved_lines  # loss, accuracy, per-class accuracy, confusion matrix
        assert report["confusion_matrix"] == saved["confusion_matrix"]
    lines, report = reports["litert_int8"]
    assert report["accuracy"] == deployed["litert_int8"].report["accuracy"]
    assert np.sum(report["confusion_matrix"]) == 10_000


def write_model(path, content):
    return files.write_atomic(str(path), content)


@pytest.fixture(scope="module")
def bad_models(deployed, tmp_path_factory):
    """{name: (path, fragment of its error)}: truncated, foreign and empty model files."""
    directory = tmp_path_factory.mktemp("bad_models")
    tflite = open(deployed["litert"].path, "rb").read()
    onnx_bytes = open(deployed["onnx"].path, "rb").read()
    png = bytes(tf.io.encode_png(np.zeros((28, 28, 1), np.uint8)).numpy())
    return {
        "truncated tflite": (write_model(directory / "cut.tflite", tflite[:len(tflite) // 2]),
                             "LiteRT cannot read it as a LiteRT flatbuffer"),
        "tflite cut at the end": (write_model(directory / "end.tflite", tflite[:-64]),
                                  "LiteRT cannot read it"),
        "png as tflite": (write_model(directory / "png.tflite", png), "no TFL3 identifier"),
        "truncated onnx": (write_model(directory / "cut.onnx", onnx_bytes[:len(onnx_bytes) // 2]),
                           "ONNX Runtime cannot load it as an ONNX model"),
        "tflite as onnx": (write_model(directory / "lite.onnx", tflite),
                           "ONNX Runtime cannot load it as an ONNX model"),
        "empty onnx": (str(directory / "empty.onnx"), "0 bytes"),
    }


def test_bad_model_files_are_one_line_errors_naming_what_was_expected(bad_models):
    open(bad_models["empty onnx"][0], "wb").close()
    for name, (path, fragment) in bad_models.items():
        with pytest.raises(MnistTfError) as info:
            predictor.load_predictor(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and fragment in message, (name, message)
        assert "\n" not in message, (name, message)


def test_a_bad_model_file_from_a_process_exits_1_with_one_line(bad_models, digits):
    path, fragment = bad_models["truncated tflite"]
    assert_one_line_error(run_binary("predict", "--model", path, digits[0]), path, fragment)


def square_model(size, channels=()):
    """A float tf.function on [N, size, size, *channels] images: softmax of a fixed linear map."""
    values = np.random.default_rng(0).normal(size=(size * size, 10)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, *channels], tf.float32,
                                                name="images")])
    def probabilities(images):
        weights = tf.constant(values)  # a constant of the graph, not a captured input
        return {"probabilities": tf.nn.softmax(tf.reshape(images, [-1, size * size]) @ weights)}

    return probabilities


def tflite_of(function):
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], function)
    return converter.convert()


def onnx_of(function):
    import tf2onnx

    proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature)
    return proto.SerializeToString()


def test_a_model_of_another_input_shape_is_refused_before_any_image_is_read(tmp_path):
    wrong = square_model(32, (3,))
    for path in (write_model(tmp_path / "wrong.tflite", tflite_of(wrong)),
                 write_model(tmp_path / "wrong.onnx", onnx_of(wrong))):
        status, _, err = run_main("predict", f"--model={path}", str(tmp_path / "no-such-digit.png"))
        assert status == 1 and err.startswith(f"error: {path}")
        assert "has shape [N, 32, 32, 3]; expected MNIST images [N, 28, 28]" in err
        status, _, err = run_main("evaluate", f"--model={path}",
                                  f"--data_dir={tmp_path / 'no-mnist'}")
        assert status == 1 and "has shape" in err  # before the data is looked for


def test_a_float_model_of_28x28_images_gets_pixels_over_255(tmp_path, mnist):
    # a model such as the Keras example's own (float32 [N, 28, 28, 1] in [0, 1]) works too
    function = square_model(28, (1,))
    x = mnist.x_test[:20]
    expected = function(tf.constant(x[..., None] / np.float32(255)))["probabilities"].numpy()
    for path, load in ((write_model(tmp_path / "keras_like.tflite", tflite_of(function)),
                        litert.load_predictor),
                       (write_model(tmp_path / "keras_like.onnx", onnx_of(function)),
                        onnx.load_predictor)):
        np.testing.assert_allclose(load(path)(x), expected, atol=1e-5)


def test_float_images_are_refused_by_the_int8_model(deployed, mnist):
    int8 = predictor.load_predictor(deployed["litert_int8"].path)
    assert int8.input_info.dtype == np.uint8
    with pytest.raises(MnistTfError, match=r"expected uint8 pixels \[N, 28, 28\] \(0..255\), "
                                           r"got float32"):
        int8(mnist.x_test[:4].astype(np.float32) / 255)
    assert int8(mnist.x_test[:4]).shape == (4, 10)
