"""ONNX from the SavedModel, through tf2onnx, run by ONNX Runtime.

``convert(saved_model_dir)`` traces the SavedModel's ``serving_default`` signature
(``images`` uint8 [N, 28, 28] → ``probabilities`` float32 [N, 10], ``digit`` int64 [N])
into an ONNX graph at tf2onnx's default opset: Cast, Div by 255, Conv, Relu,
MaxPool, Reshape, MatMul, Add, Softmax, ArgMax, all float32, the same arithmetic
as the SavedModel up to the order of float additions.
"""

import numpy as np

from mnist_tf.deploy import files
from mnist_tf.deploy.predictor import (FilePredictor, TensorInfo, check_image_input,
                                       pick_output)
from mnist_tf.errors import MnistTfError, first_line

EXPECTED = "an ONNX model (.onnx, a serialized onnx.ModelProto)"
INSTALL = "pip install -e \".[deploy]\""
_DTYPES = {"tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(float)": np.float32}


def convert(saved_model_dir: str) -> bytes:
    """The SavedModel's serving signature as an ONNX model; returns the ``.onnx`` file's bytes.

    Raises:
      MnistTfError: (one line) tf2onnx is missing or failed, with its own first line.
    """
    import tensorflow as tf

    from mnist_tf import export

    try:
        import tf2onnx
    except ImportError:
        raise MnistTfError(f"tf2onnx is not installed: {INSTALL}") from None
    loaded = tf.saved_model.load(saved_model_dir)  # kept alive: the signature holds it weakly
    signature = loaded.signatures[export.SIGNATURE_KEY]
    function = tf.function(lambda images: signature(images=images))
    try:
        proto, _ = tf2onnx.convert.from_function(function,
                                                 input_signature=[export.IMAGES_SPEC])
    except Exception as e:
        raise MnistTfError(f"{saved_model_dir}: tf2onnx failed: {first_line(e)}") from None
    return proto.SerializeToString()


def session(content: bytes):
    """An ONNX Runtime session on the CPU for ``content``."""
    try:
        import onnxruntime
    except ImportError:
        raise MnistTfError(f"onnxruntime is not installed: {INSTALL}") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: a refused file is our own one line
    return onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])


def _info(node) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else -1 for d in (node.shape or ()))
    return TensorInfo(node.name, np.dtype(_DTYPES.get(node.type, np.object_)), shape)


def load_predictor(path: str) -> FilePredictor:
    """A predictor running the ``.onnx`` file at ``path`` in ONNX Runtime.

    Raises:
      MnistTfError: (one line) not a model ONNX Runtime loads (truncated, another
        format), or an input that is not 28x28 images.
    """
    content = files.read_model_file(path, EXPECTED)
    try:
        model = session(content)
    except MnistTfError:
        raise
    except Exception as e:  # onnxruntime's InvalidProtobuf, Fail, InvalidGraph ...
        raise MnistTfError(f"{path}: ONNX Runtime cannot load it as {EXPECTED}: "
                           f"{first_line(e)}") from None
    inputs = model.get_inputs()
    if len(inputs) != 1:
        raise MnistTfError(f"{path}: the model has {len(inputs)} inputs; expected one (images)")
    input_info = _info(inputs[0])
    check_image_input(path, input_info)
    output_info = pick_output(path, [_info(o) for o in model.get_outputs()])

    def run(x):
        return model.run([output_info.name], {input_info.name: x})[0]

    return FilePredictor(run, input_info, output_info, f"ONNX {path}")
