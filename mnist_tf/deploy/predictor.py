"""One predictor for every format: ``load_predictor(path)(images uint8 [N, 28, 28]) → [N, 10]``.

``path`` names what to load:

    *.tflite       a LiteRT flatbuffer, run by ``ai_edge_litert``'s Interpreter (litert.py)
    *.onnx         an ONNX model, run by ONNX Runtime (onnx.py)
    anything else  a SavedModel, a checkpoint, checkpoint directory or run logdir
                   (``mnist_tf.export.load_predictor``)

A model file's one input must be 28x28 images, ``[N, 28, 28]`` or ``[N, 28, 28, 1]``
(N free or 1); anything else is refused when the file is loaded, before any image
is read. What the predictor feeds it, from the uint8 pixels x:

    input dtype uint8, no quantization          x                 (ours: /255 in the graph)
    input dtype float32                         x / 255           (the Keras example's input)
    input dtype int8/uint8 with scale s, zero z q = clip(round(x / 255 / s) + z)

and what it returns: the output named ``probabilities`` (else the one output of 10
values), dequantized as (q - z)·s when the model quantizes it. Images that are
not uint8 pixels (floats, say) are refused, not cast: an integer model given
float32 values in [0, 1] would otherwise see a black page.
"""

import dataclasses
import os

import numpy as np

from mnist_tf.errors import MnistTfError

SUFFIXES = {".tflite": "litert", ".onnx": "onnx"}
IMAGE_SHAPES = ([28, 28], [28, 28, 1])


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """A model file's input or output as its runtime describes it.

    Attributes:
      dtype: its NumPy dtype.
      shape: its dimensions, -1 where free (the batch).
      scale, zero_point: its affine quantization, real = (q - zero_point)·scale; scale 0
        when it is not quantized.
    """

    name: str
    dtype: np.dtype
    shape: tuple
    scale: float = 0.0
    zero_point: int = 0


def check_image_input(path: str, info: TensorInfo) -> None:
    """Refuses an input that is not a batch of 28x28 images of a dtype this module feeds."""
    dims = list(info.shape)
    if len(dims) not in (3, 4) or dims[1:] not in IMAGE_SHAPES or dims[0] not in (-1, 1):
        raise MnistTfError(f"{path}: the model's input {info.name!r} has shape "
                           f"{_shape_text(dims)}; expected MNIST images [N, 28, 28] or "
                           f"[N, 28, 28, 1]")
    if info.dtype not in (np.uint8, np.float32, np.int8) or (
            info.dtype == np.int8 and not info.scale):
        raise MnistTfError(f"{path}: the model's input {info.name!r} is {np.dtype(info.dtype)}"
                           f"{' without quantization' if info.dtype == np.int8 else ''}; "
                           f"expected uint8 pixels, float32 or quantized int8 images")


def _shape_text(dims) -> str:
    return "[" + ", ".join("N" if d == -1 else str(d) for d in dims) + "]"


def model_input(images: np.ndarray, info: TensorInfo) -> np.ndarray:
    """uint8 pixels [N, 28, 28] as the model's input (table in the module docstring)."""
    if info.dtype == np.float32:
        x = images.astype(np.float32) / np.float32(255)
    elif info.scale:
        limits = np.iinfo(info.dtype)
        q = np.round(images.astype(np.float32) / 255 / info.scale) + info.zero_point
        x = np.clip(q, limits.min, limits.max).astype(info.dtype)
    else:
        x = images
    return x.reshape([len(images), *info.shape[1:]])


def model_output(values: np.ndarray, info: TensorInfo) -> np.ndarray:
    """The output as float32 probabilities [N, 10]: dequantized if quantized."""
    if info.scale:
        values = (values.astype(np.float32) - info.zero_point) * np.float32(info.scale)
    return np.asarray(values, np.float32).reshape(-1, 10)


def pick_output(path: str, outputs: list) -> TensorInfo:
    """The output named ``probabilities``, else the only one with 10 values per image."""
    named = [o for o in outputs if o.name == "probabilities"]
    tens = [o for o in outputs if len(o.shape) == 2 and o.shape[-1] == 10]
    if named or len(tens) == 1:
        return (named or tens)[0]
    raise MnistTfError(f"{path}: no output named 'probabilities' and {len(tens)} outputs of "
                       f"10 values; expected one [N, 10] output")


class FilePredictor:
    """``predictor(images uint8 [N, 28, 28]) → probabilities float32 [N, 10]`` for a model file.

    Args:
      run: ``run(x) → y``: the runtime's call on one batch of the model's input.
      input_info, output_info: what :func:`model_input` and :func:`model_output` convert.
      source: for messages, e.g. ``"LiteRT model.tflite"``.
    """

    BATCH = 1000  # images per call: memory stays bounded whatever an IDX file holds

    def __init__(self, run, input_info: TensorInfo, output_info: TensorInfo, source: str):
        self._run, self.input_info, self.output_info = run, input_info, output_info
        self.source = source
        if input_info.shape[0] == 1:  # a model of a fixed batch of one gets one image a call
            self.BATCH = 1

    def __call__(self, images) -> np.ndarray:
        """Raises MnistTfError (one line): images not uint8 pixels, or non-finite outputs."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[1:] not in ((28, 28), (28, 28, 1)):
            raise MnistTfError(
                f"{self.source}: expected uint8 pixels [N, 28, 28] (0..255), got "
                f"{images.dtype} {list(images.shape)}; the model's input is "
                f"{np.dtype(self.input_info.dtype)}: pass raw pixels, this predictor converts")
        images = images.reshape(-1, 28, 28)
        parts = [model_output(self._run(model_input(images[i:i + self.BATCH], self.input_info)),
                              self.output_info)
                 for i in range(0, len(images), self.BATCH)]
        probabilities = np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)
        if not np.isfinite(probabilities).all():
            raise MnistTfError(f"{self.source}: the model's outputs are not finite")
        return probabilities


def load_predictor(path: str, model_name: str = None):
    """A predictor for ``path`` (table in the module docstring).

    Args:
      path: a ``.tflite`` or ``.onnx`` file, a SavedModel directory, or a checkpoint.
      model_name: for checkpoints only, the network to build (default: the run's config).

    Raises:
      MnistTfError: (one line, ``path: ...``) nothing usable at ``path``, a file its runtime
        cannot read, or a model whose input is not 28x28 images.
    """
    kind = SUFFIXES.get(os.path.splitext(path)[1].lower())
    if kind == "litert":
        from mnist_tf.deploy import litert

        return litert.load_predictor(path)
    if kind == "onnx":
        from mnist_tf.deploy import onnx

        return onnx.load_predictor(path)
    from mnist_tf import export

    return export.load_predictor(path, model_name)
