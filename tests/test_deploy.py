"""LiteRT float, LiteRT int8 and ONNX exports, each run in its own runtime against the SavedModel.

The three files come from the ``deployed`` fixture (bin/export.py's main on a copy of the
shared trained run, tests/deployed_model.py); the runtimes here are called directly
(``ai_edge_litert``'s Interpreter, ``onnxruntime.InferenceSession``), not through our predictor.
"""

import os

import numpy as np
import onnxruntime
import pytest
from ai_edge_litert.interpreter import Interpreter

from mnist_tf.deploy import formats, verify
from mnist_tf.errors import MnistTfError

pytestmark = pytest.mark.slow
N = 500  # test images run through each raw runtime here (the export verified all 10,000)


def litert_probabilities(path, images):
    runner = Interpreter(model_path=path).get_signature_runner("serving_default")
    out = runner(images=images)["probabilities"]
    details = runner.get_output_details()["probabilities"]
    scale, zero_point = details["quantization"]
    return (out.astype(np.float32) - zero_point) * scale if scale else out


def onnx_probabilities(path, images):
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"images": images})[0]


def test_export_prints_its_verified_figures(deployed, trained_run):
    for fmt, exported in deployed.items():
        lines = exported.stdout.strip().splitlines()
        assert lines[0].startswith("checkpoint: ") and lines[1].startswith(
            f"export: {exported.path}  ({fmt}, "), exported.stdout
        assert lines[2].startswith("verified: test accuracy "), lines[2]
        report = exported.report
        assert report["size_bytes"] == os.path.getsize(exported.path)
        assert report["count"] == 10_000 and report["format"] == fmt
    # the copy of the run holds its files and the three: no temporary file beside them
    directory = os.path.dirname(deployed["onnx"].path)
    assert sorted(os.listdir(directory)) == sorted(
        os.listdir(trained_run.logdir) + ["model.onnx", "model.tflite", "model_int8.tflite"])


@pytest.mark.parametrize("fmt,run", [("litert", litert_probabilities),
                                     ("onnx", onnx_probabilities)])
def test_float_formats_predict_what_the_saved_model_predicts(deployed, trained_run, mnist,
                                                             fmt, run):
    report = deployed[fmt].report
    assert report["agree"] == 10_000 and report["max_abs_diff"] <= 1e-5, report
    assert report["accuracy"] == report["saved_model_accuracy"]
    images = mnist.x_test[:N]
    expected = trained_run.predictor(images)
    got = run(deployed[fmt].path, images)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_array_equal(got.argmax(-1), expected.argmax(-1))


def test_int8_is_integer_a_third_of_the_size_and_as_accurate(deployed, trained_run, mnist):
    report, float_report = deployed["litert_int8"].report, deployed["litert"].report
    assert report["size_bytes"] <= float_report["size_bytes"] / 3
    assert abs(report["accuracy"] - float_report["accuracy"]) <= 0.001, report
    assert report["agree"] >= 0.995 * 10_000
    model = Interpreter(model_path=deployed["litert_int8"].path)
    ops = model._get_ops_details()
    tensors = {t["index"]: t for t in model.get_tensor_details()}
    layers = [op for op in ops if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")]
    assert len(layers) == 3  # conv2d, conv2d_1, dense
    for op in layers:
        x, w, b = (tensors[i] for i in op["inputs"])
        assert x["dtype"] == w["dtype"] == tensors[op["outputs"][0]]["dtype"] == np.int8
        assert b["dtype"] == np.int32
        scales = w["quantization_parameters"]["scales"]
        assert len(scales) == w["shape"][0] > 1  # one scale per output channel
        assert not w["quantization_parameters"]["zero_points"].any()  # symmetric
    runner = model.get_signature_runner("serving_default")
    assert runner.get_input_details()["images"]["dtype"] == np.uint8
    got = litert_probabilities(deployed["litert_int8"].path, mnist.x_test[:N])
    assert np.mean(got.argmax(-1) == trained_run.predictor(mnist.x_test[:N]).argmax(-1)) >= 0.99


def test_an_export_outside_its_bound_is_refused_and_nothing_is_written(trained_run, mnist,
                                                                       tmp_path):
    # int8 probabilities are multiples of 1/256: they cannot meet the float bound |Δp| <= 1e-5
    path = tmp_path / "model.tflite"
    path.write_bytes(b"the previous file")
    with pytest.raises(MnistTfError, match=r"refused, outside its bound .*nothing was written"):
        formats.write("litert_int8", trained_run.export_dir, str(path), mnist.x_train,
                      mnist.x_test[:1000], mnist.y_test[:1000], bound=verify.FLOAT_BOUND)
    assert path.read_bytes() == b"the previous file"
    assert os.listdir(tmp_path) == ["model.tflite"]


def test_calibration_images_are_training_images_not_held_out_ones(mnist):
    images = formats.calibration_images(mnist.x_train)
    assert images.shape == (300, 28, 28) and images.dtype == np.uint8
    train_part = {img.tobytes() for img in mnist.x_train[:formats.TRAINING_PART]}
    assert all(img.tobytes() in train_part for img in images)
    assert len({img.tobytes() for img in images}) == 300


def test_verification_figures():
    p_ref = np.eye(10, dtype=np.float32)[[0, 1, 2, 3]]
    p = p_ref.copy()
    p[3] = np.float32(0.1)
    p[3, 5] = 0.2  # the fourth prediction changes from 3 to 5
    v = verify.compare(p, p_ref, labels=[0, 1, 2, 5])
    assert (v.agree, v.count, v.accuracy, v.reference_accuracy) == (3, 4, 1.0, 0.75)
    assert v.max_abs_diff == pytest.approx(0.9)
    assert not v.within(verify.Bound(0.8)) and v.within(verify.Bound(0.75))
    assert not verify.Verification(1, 1, 4, 4, 2e-5).within(verify.FLOAT_BOUND)


def test_the_shared_runs_tests_are_one_xdist_group(deployed, request):
    """Under ``--dist loadgroup`` (setup.cfg) every test that needs the trained run, even
    through another fixture as here, runs on the worker that trained it and exported it once."""
    if not getattr(request.config.option, "loadgroup", False):  # set on pytest-xdist's workers
        pytest.skip("not run under pytest-xdist's loadgroup")
    assert request.node.nodeid.endswith("@trained_run"), request.node.nodeid
