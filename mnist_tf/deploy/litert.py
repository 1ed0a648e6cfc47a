"""LiteRT (TensorFlow Lite) flatbuffers from the SavedModel: float32 and full-integer int8.

Both keep the SavedModel's ``serving_default`` signature: ``images`` uint8 [N, 28, 28]
in, ``probabilities`` [N, 10] and ``digit`` int64 [N] out; the ``/255`` stays inside.

- **float32** (``convert(saved_model_dir)``): the same graph, fused into LiteRT kernels
  (conv + bias + ReLU in one CONV_2D); weights stay float32.
- **int8** (``convert(saved_model_dir, calibration_images)``): post-training full-integer
  quantization (``Optimize.DEFAULT`` with a representative dataset and
  ``TFLITE_BUILTINS_INT8`` only): int8 weights with one scale per output channel,
  int8 activations with one (scale, zero point) per tensor chosen from the ranges
  the calibration images produce, int32 biases; uint8 in (MNIST's pixels) and uint8
  probabilities out (scale 1/256). The arithmetic is in ``quantization.py``.
  Calibrate on training images, never on the test set that measures the result.

The file is run by ``ai_edge_litert.interpreter.Interpreter`` (TensorFlow's own
``tf.lite.Interpreter`` is deprecated in its favour).
"""

import warnings

import numpy as np

from mnist_tf.deploy import files
from mnist_tf.deploy.predictor import (FilePredictor, TensorInfo, check_image_input,
                                       pick_output)
from mnist_tf.errors import MnistTfError, first_line

EXPECTED = "a LiteRT flatbuffer (.tflite, file identifier TFL3)"
INSTALL = "pip install -e \".[deploy]\""


def convert(saved_model_dir: str, calibration_images=None) -> bytes:
    """The SavedModel as a LiteRT flatbuffer: float32, or int8 if ``calibration_images`` is given.

    Args:
      saved_model_dir: a SavedModel of ``mnist_tf.export`` (uint8 [N, 28, 28] input).
      calibration_images: uint8 [K, 28, 28] training images (a few hundred) whose
        activations fix each tensor's int8 range; None for float32.

    Returns:
      The ``.tflite`` file's bytes.

    Raises:
      MnistTfError: (one line) the converter failed, with its own first line.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    if calibration_images is not None:
        images = np.asarray(calibration_images, np.uint8)

        def representative_dataset():
            for i in range(len(images)):
                yield {"images": images[i:i + 1]}

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    try:
        with warnings.catch_warnings():
            # the converter calibrates with tf.lite.Interpreter, which warns of its deprecation
            warnings.filterwarnings("ignore", "\\s*Warning: tf.lite.Interpreter is deprecated")
            return converter.convert()
    except Exception as e:  # the converter raises ConverterError, ValueError, RuntimeError
        raise MnistTfError(f"{saved_model_dir}: the LiteRT converter failed: "
                           f"{first_line(e)}") from None


def interpreter(content: bytes, without_xnnpack: bool = False, **kwargs):
    """An ``ai_edge_litert`` Interpreter on ``content``; ``without_xnnpack`` runs LiteRT's
    builtin kernels without the XNNPACK delegate (what ``quantization.py`` mirrors exactly)."""
    try:
        from ai_edge_litert import interpreter as litert_interpreter
    except ImportError:
        raise MnistTfError(f"ai-edge-litert is not installed: {INSTALL}") from None
    if without_xnnpack:
        kwargs["experimental_op_resolver_type"] = (
            litert_interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    model = litert_interpreter.Interpreter(model_content=content, **kwargs)
    model.allocate_tensors()
    return model


def _info(detail: dict, name: str = None) -> TensorInfo:
    scale, zero_point = detail["quantization"]
    shape = detail.get("shape_signature", detail["shape"])
    return TensorInfo(name or detail["name"], np.dtype(detail["dtype"]),
                      tuple(int(d) for d in shape), float(scale), int(zero_point))


def load_predictor(path: str) -> FilePredictor:
    """A predictor running the ``.tflite`` file at ``path`` in LiteRT.

    Raises:
      MnistTfError: (one line) not a readable LiteRT flatbuffer (a truncated file fails
        LiteRT's flatbuffer verifier), or an input that is not 28x28 images.
    """
    content = files.read_model_file(path, EXPECTED)
    if content[4:8] != b"TFL3":
        raise MnistTfError(f"{path}: not {EXPECTED}: no TFL3 identifier at byte 4")
    try:
        model = interpreter(content)
    except MnistTfError:
        raise
    except Exception as e:  # ValueError/RuntimeError from the flatbuffer verifier
        raise MnistTfError(f"{path}: LiteRT cannot read it as {EXPECTED}: "
                           f"{first_line(e)}") from None
    signatures = model.get_signature_list()
    if signatures:  # names from the signature ("images", "probabilities"), indices from details
        key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
        runner = model.get_signature_runner(key)
        inputs = [(d["index"], _info(d, n)) for n, d in runner.get_input_details().items()]
        outputs = [(d["index"], _info(d, n)) for n, d in runner.get_output_details().items()]
        del runner
    else:
        inputs = [(d["index"], _info(d)) for d in model.get_input_details()]
        outputs = [(d["index"], _info(d)) for d in model.get_output_details()]
    if len(inputs) != 1:
        raise MnistTfError(f"{path}: the model has {len(inputs)} inputs; expected one (images)")
    (input_index, input_info), = inputs
    check_image_input(path, input_info)
    output_info = pick_output(path, [info for _, info in outputs])
    output_index = next(i for i, info in outputs if info is output_info)
    shape = [None]

    def run(x):
        if shape[0] != x.shape:
            model.resize_tensor_input(input_index, list(x.shape))
            model.allocate_tensors()
            shape[0] = x.shape
        model.set_tensor(input_index, x)
        model.invoke()
        return model.get_tensor(output_index)

    return FilePredictor(run, input_info, output_info, f"LiteRT {path}")
