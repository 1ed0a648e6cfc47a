"""Writing one deployment format from a SavedModel: convert, verify in its runtime, keep.

    write(format, saved_model_dir, path, x_train, x_test, y_test) → Report

1. convert: ``litert`` and ``litert_int8`` (litert.py; int8 calibrated on
   ``CALIBRATION_IMAGES`` training images), ``onnx`` (onnx.py);
2. write the bytes to a temporary file beside ``path`` and load that file in the
   format's own runtime, as a user would;
3. run it and the SavedModel on the test images and compare (verify.py);
4. within the format's bound the file is renamed to ``path``; outside it, it is
   deleted and the export refused (one line, nothing left behind).

The calibration images are drawn (seed 0) from the first 54,000 training images,
the part training learns from: not the test set that measures the result, nor the
6,000 the Keras example holds out for validation.
"""

import dataclasses
import os

import numpy as np

from mnist_tf.deploy import files, litert, onnx, predictor, verify

FORMATS = ("savedmodel", "litert", "litert_int8", "onnx")
SUFFIXES = {"litert": ".tflite", "litert_int8": ".tflite", "onnx": ".onnx"}
DEFAULT_NAMES = {"litert": "model.tflite", "litert_int8": "model_int8.tflite",
                 "onnx": "model.onnx"}
CALIBRATION_IMAGES = 300
TRAINING_PART = 54_000  # the Keras example's validation_split=0.1 holds out the rest


@dataclasses.dataclass(frozen=True)
class Report:
    format: str
    path: str
    size_bytes: int
    reference_size_bytes: int   # the SavedModel directory's files
    verification: verify.Verification
    bound: verify.Bound

    def to_dict(self) -> dict:
        v = self.verification
        return {"format": self.format, "path": self.path, "size_bytes": self.size_bytes,
                "saved_model_bytes": self.reference_size_bytes, "accuracy": v.accuracy,
                "saved_model_accuracy": v.reference_accuracy, "agree": v.agree,
                "count": v.count, "max_abs_diff": v.max_abs_diff,
                "bound": self.bound.describe()}


def calibration_images(x_train, count: int = CALIBRATION_IMAGES, seed: int = 0) -> np.ndarray:
    """``count`` training images, uint8 [count, 28, 28], drawn without replacement."""
    pool = min(len(x_train), TRAINING_PART)
    index = np.sort(np.random.default_rng(seed).choice(pool, size=min(count, pool),
                                                       replace=False))
    return np.asarray(x_train)[index]


def convert(fmt: str, saved_model_dir: str, x_train=None) -> bytes:
    """The bytes of format ``fmt`` (not ``savedmodel``) converted from ``saved_model_dir``."""
    if fmt == "litert":
        return litert.convert(saved_model_dir)
    if fmt == "litert_int8":
        return litert.convert(saved_model_dir, calibration_images(x_train))
    if fmt == "onnx":
        return onnx.convert(saved_model_dir)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS[1:])}")


def directory_bytes(directory: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(directory) for name in names)


def write(fmt: str, saved_model_dir: str, path: str, x_train, x_test, y_test,
          bound: verify.Bound = None) -> Report:
    """Converts, verifies and writes format ``fmt`` to ``path`` (steps in the module docstring).

    Raises:
      MnistTfError: (one line) the conversion failed, or the file's predictions are
        outside ``bound`` (default ``verify.BOUNDS[fmt]``); ``path`` is then left as it was.
    """
    data = convert(fmt, saved_model_dir, x_train)
    reference = predictor.load_predictor(saved_model_dir)(x_test)
    load = litert.load_predictor if fmt.startswith("litert") else onnx.load_predictor
    bound = bound or verify.BOUNDS[fmt]
    with files.staged(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
        verification = verify.compare(load(tmp)(x_test), reference, y_test)
        verify.check(path, verification, bound)
    return Report(fmt, path, len(data), directory_bytes(saved_model_dir), verification, bound)
