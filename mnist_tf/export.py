"""SavedModel export: a trained model as a self-contained graph that serves raw MNIST images.

The exported signature is what a serving system (TF Serving, a C++ or Java
client, another Python process) calls. It takes the images exactly as MNIST
stores them and does the input pipeline's work inside the graph::

    serving_default(images: uint8 [N, 28, 28])
      x = pipeline.to_float(images)                    # float32 [N, 28, 28, 1] in [0, 1]
      → probabilities = models.predict_probabilities(model, x)   # softmax(logits), dropout off
                                     float32 [N, 10]
        digit         = argmax(probabilities)                    int64   [N]

A model with a non-finite weight (a diverged run) is never exported, and a
:class:`Predictor` whose model answers with non-finite probabilities raises
instead of returning them.

A SavedModel holds the traced graph and the variables, not the Python code, so
``tf.saved_model.load`` works in a process that cannot import ``mnist_tf``.

:func:`load_predictor` gives the same function back, from either an export or
a training checkpoint, for ``bin/predict.py``.
"""

import os
import shutil
import tempfile
import uuid

import numpy as np
import tensorflow as tf

from mnist_tf import models
from mnist_tf.data import pipeline
from mnist_tf.errors import MnistTfError, first_line

SIGNATURE_KEY = "serving_default"
IMAGES_SPEC = tf.TensorSpec([None, 28, 28], tf.uint8, name="images")


class _Serving(tf.Module):
    """The model plus the serving function; what the SavedModel's root object is."""

    def __init__(self, model):
        super().__init__(name="serving")
        self.model = model

    @tf.function(input_signature=[IMAGES_SPEC])
    def serve(self, images):
        probabilities = models.predict_probabilities(self.model, pipeline.to_float(images))
        return {"probabilities": probabilities,
                "digit": tf.argmax(probabilities, axis=-1, output_type=tf.int64)}


def check_finite(model) -> None:
    """Refuses a model with any NaN or infinite weight (a diverged run): one line naming it.

    Raises:
      MnistTfError: the first variable holding a non-finite value, and how many it holds.
    """
    for variable in model.variables:
        if not variable.dtype.is_floating:
            continue
        bad = int(tf.reduce_sum(tf.cast(~tf.math.is_finite(variable), tf.int64)))
        if bad:
            raise MnistTfError(f"the model's weight {variable.name} holds {bad} non-finite "
                               f"value(s) of {variable.shape.num_elements()}: was it trained "
                               f"with a diverging learning rate? Nothing was exported")


def export_saved_model(model, export_dir: str) -> str:
    """Writes ``model`` as a SavedModel with the ``serving_default`` signature above.

    The write is atomic: the SavedModel is written into a temporary directory
    beside ``export_dir`` and renamed into place, so a reader never sees half an
    export. An existing export at ``export_dir`` is replaced (it is moved aside
    first, since a directory cannot be renamed over a non-empty one, and
    deleted after the new one is in place); anything else there — a file, a
    directory with other contents — is left alone and is an error.

    Args:
      model: a built model, called as ``model(images [B, 28, 28, 1], training=False)``
        → logits [B, 10].
      export_dir: the SavedModel directory to create or replace.

    Returns:
      ``export_dir``.

    Raises:
      MnistTfError: (one line) a weight of ``model`` is not finite (:func:`check_finite`),
        or ``export_dir`` holds something other than a SavedModel.
    """
    export_dir = os.path.normpath(export_dir)
    check_finite(model)
    _check_replaceable(export_dir)
    parent = os.path.dirname(os.path.abspath(export_dir))
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(export_dir)
    # os.mkdir, unlike tempfile.mkdtemp (always 0700), gives the umask's permissions, so
    # other users and processes can read the export as they could any file the user writes.
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.mkdir(tmp)
    old = None
    try:
        serving = _Serving(model)
        tf.saved_model.save(serving, tmp,
                            signatures={SIGNATURE_KEY: serving.serve.get_concrete_function()})
        if os.path.exists(export_dir):
            old = tempfile.mkdtemp(prefix=f".{name}.old-", dir=parent)
            os.rename(export_dir, os.path.join(old, name))
        os.rename(tmp, export_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old and not os.path.exists(export_dir):  # put the previous export back
            os.rename(os.path.join(old, name), export_dir)
        raise
    finally:
        if old:
            shutil.rmtree(old, ignore_errors=True)
    return export_dir


def _check_replaceable(export_dir: str) -> None:
    """Only a missing path, an empty directory or a previous SavedModel may be replaced."""
    if not os.path.lexists(export_dir):
        return
    if os.path.isdir(export_dir) and (not os.listdir(export_dir)
                                      or tf.saved_model.contains_saved_model(export_dir)):
        return
    raise MnistTfError(f"{export_dir} exists and is not a SavedModel: choose a new export "
                       "directory, or remove it yourself (it is never overwritten)")


def describe_signature(export_dir: str) -> str:
    """The serving signature of the SavedModel in ``export_dir``, as a few lines of text."""
    signature = tf.saved_model.load(export_dir).signatures[SIGNATURE_KEY]

    def line(name, spec):
        return f"    {name}: {spec.dtype.name} {spec.shape.as_list()}"

    _, inputs = signature.structured_input_signature
    lines = [f"signature {SIGNATURE_KEY}:", "  inputs:"]
    lines += [line(name, spec) for name, spec in sorted(inputs.items())]
    lines += ["  outputs:"]
    lines += [line(name, spec) for name, spec in sorted(signature.structured_outputs.items())]
    return "\n".join(lines)


class Predictor:
    """``predictor(images uint8 [N, 28, 28]) → probabilities float32 [N, 10]`` (a NumPy array).

    Attributes:
      source: what was loaded, for messages: ``"SavedModel <dir>"`` or ``"checkpoint <prefix>"``.
    """

    BATCH = 1000  # images per call: an IDX file of 10,000 digits would otherwise need ~1 GB

    def __init__(self, function, source: str):
        self._function = function
        self.source = source

    def __call__(self, images) -> np.ndarray:
        """Raises MnistTfError (one line) when the model's outputs are not finite."""
        images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
        parts = [self._function(tf.constant(images[i:i + self.BATCH])).numpy()
                 for i in range(0, len(images), self.BATCH)]
        probabilities = np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)
        if not np.isfinite(probabilities).all():
            raise MnistTfError(f"{self.source}: the model's outputs are not finite: was it "
                               f"trained with a diverging learning rate?")
        return probabilities


def load_predictor(path: str, model_name: str = None) -> Predictor:
    """A :class:`Predictor` from a SavedModel directory or a training checkpoint.

    Args:
      path: a SavedModel directory (as written by :func:`export_saved_model`),
        or a checkpoint prefix, checkpoint directory or run logdir.
      model_name: for checkpoints only: the network to build (default: the run's
        ``config.json``, else the reference CNN).

    Raises:
      MnistTfError: (one line) nothing usable at ``path``.
    """
    if tf.saved_model.contains_saved_model(path):
        try:
            signature = tf.saved_model.load(path).signatures[SIGNATURE_KEY]
        except (KeyError, ValueError, OSError, tf.errors.OpError) as e:
            raise MnistTfError(f"{path}: cannot load the SavedModel's {SIGNATURE_KEY} "
                               f"signature ({first_line(e)})") from None
        return Predictor(lambda images: signature(images=images)["probabilities"],
                         f"SavedModel {path}")

    from mnist_tf.runs import saved_runs  # the training package only when needed

    model, prefix = saved_runs.load_model(path, model_name)
    serving = _Serving(model)  # the closure keeps it alive: its tf.function holds it weakly
    return Predictor(lambda images: serving.serve(images)["probabilities"], f"checkpoint {prefix}")
