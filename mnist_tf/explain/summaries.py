"""``explain/*`` images in TensorBoard: a fixed handful of test digits, explained at every epoch end.

Tags ``explain/test_<index>`` in the ``train`` run, one image per digit and
epoch (x = the global step), each the sheet of ``render.digit_sheet``: the
input, the probabilities, saliency ∂z_c/∂x, gradient × input, SmoothGrad,
integrated gradients, Grad-CAM, every layer's output and every layer's
δ = ∂z_c/∂y, for c the class the model predicts at that epoch. The Images
dashboard's step slider then shows the maps sharpening as the model learns.

The digits are fixed so that every epoch and every run shows the same ones:
:data:`TEST_INDICES`, the first four test digits (7, 2, 1, 0) and four that
trained CNNs often get wrong (321: a 2 read as 7; 445: a 6 read as 0; 582: an
8 read as 2; 659: a 2 read as 1 — all four wrong for the test suite's
2-epoch model). Indices beyond a small test set are skipped.

Cost: one compiled explain call for the eight digits and eight PNG sheets
per epoch (BUILD_NOTES.md → Explain gives the measured seconds).
"""

import weakref

import numpy as np
import tensorflow as tf

from mnist_tf.explain import passes, render
from mnist_tf.explain.explanation import Explainer

TEST_INDICES = (0, 1, 2, 3, 321, 445, 582, 659)
_EXPLAINERS = weakref.WeakKeyDictionary()  # model → its compiled Explainer (traced once a run)


def _explainer(model) -> Explainer:
    explainer = _EXPLAINERS.get(model)
    if explainer is None:
        explainer = _EXPLAINERS[model] = Explainer(model)
    return explainer


def epoch_images(writer, step: int, model, test_images, test_labels,
                 indices=TEST_INDICES) -> None:
    """Writes ``explain/test_<i>`` for each of ``indices`` below the test set's size.

    Args:
      writer: the ``train`` run's summary writer.
      step: the global step at the epoch's end.
      model: the model being trained (read only; inference mode).
      test_images: uint8 [N, 28, 28]; test_labels: [N] (tensors or arrays).
    """
    test_images, test_labels = np.asarray(test_images), np.asarray(test_labels)
    chosen = [i for i in indices if i < len(test_images)]
    if not chosen:
        return
    x = test_images[chosen][..., None].astype(np.float32) / 255.0
    e = _explainer(model)(x)
    layers = passes.flat_layers(model)
    with writer.as_default(step=step):
        for b, i in enumerate(chosen):
            sheet = render.digit_sheet(e, b, layers,
                                       f"test digit {i}, label {int(test_labels[i])}")
            tf.summary.image(f"explain/test_{i}", np.asarray(sheet)[None], step=step,
                             description="input, probabilities, attributions; each layer's "
                                         "output y; each layer's δ = ∂z_c/∂y (c predicted)")


def at_epoch_end(config, writer, step: int, model, test) -> None:
    """The training loop's hook: :func:`epoch_images` unless ``config.explain_images`` is off.

    Under a mixed-precision policy the images are not drawn: the explanations' arithmetic
    is float32 (or float64) throughout, and the layers would compute in bfloat16/float16;
    ``bin/explain.py`` explains such a run's checkpoint afterwards.

    Args:
      test: (images uint8 [N, 28, 28], labels [N]), the run's test set.
    """
    if config.explain_images and config.precision == "float32":
        epoch_images(writer, step, model, *test)
