"""Checking an exported model in its own runtime against the SavedModel it came from.

On the N = 10,000 test images, with p the exported model's probabilities [N, 10],
p_ref the SavedModel's and y the labels:

    accuracy   = (1/N) Σ_n [argmax p_n = y_n]
    agreement  = (1/N) Σ_n [argmax p_n = argmax p_ref_n]      (identical predictions)
    max |Δp|   = max_{n,j} |p_nj - p_ref_nj|

and a format is kept only within its bound (``BOUNDS``): the float formats must
predict exactly what the SavedModel predicts, every digit, with max |Δp| ≤ 1e-5
(float32 round-off of a reordered sum is ~1e-7); int8 must agree on at least
99.5% of the digits (its probabilities are multiples of 1/256, so |Δp| is
reported, not bounded).

``evaluate_predictor`` gives ``bin/evaluate.py`` the same figures for any
predictor, with the loss of probabilities as Keras computes it,
CE = -log(clip(p_y, 1e-7, 1 - 1e-7)).
"""

import dataclasses

import numpy as np

import tensorflow as tf

from mnist_tf.errors import MnistTfError
from mnist_tf.training.evaluation import EvalResult

EPSILON = 1e-7  # Keras's backend epsilon, which clips probabilities in its crossentropy


@dataclasses.dataclass(frozen=True)
class Bound:
    min_agreement: float             # the least share of identical predictions
    max_abs_diff: float = None       # the largest |Δp| allowed; None: reported only

    def describe(self) -> str:
        text = f"agreement ≥ {100 * self.min_agreement:g}%"
        return text + (f", max |Δp| ≤ {self.max_abs_diff:g}" if self.max_abs_diff else "")


FLOAT_BOUND = Bound(min_agreement=1.0, max_abs_diff=1e-5)
BOUNDS = {"litert": FLOAT_BOUND, "onnx": FLOAT_BOUND, "litert_int8": Bound(0.995)}


@dataclasses.dataclass(frozen=True)
class Verification:
    """What :func:`compare` measured; ``agree`` of ``count`` predictions were identical."""

    accuracy: float
    reference_accuracy: float
    agree: int
    count: int
    max_abs_diff: float

    @property
    def agreement(self) -> float:
        return self.agree / self.count

    def within(self, bound: Bound) -> bool:
        return self.agreement >= bound.min_agreement and (
            bound.max_abs_diff is None or self.max_abs_diff <= bound.max_abs_diff)

    def describe(self) -> str:
        return (f"test accuracy {100 * self.accuracy:.2f}% (SavedModel "
                f"{100 * self.reference_accuracy:.2f}%), same prediction on "
                f"{self.agree:,}/{self.count:,}, max |Δp| {self.max_abs_diff:.2g}")


def compare(probabilities, reference, labels) -> Verification:
    """The figures of the module docstring, for p [N, 10], p_ref [N, 10] and y [N]."""
    p, p_ref, y = np.asarray(probabilities), np.asarray(reference), np.asarray(labels)
    predicted, expected = p.argmax(-1), p_ref.argmax(-1)
    return Verification(float(np.mean(predicted == y)), float(np.mean(expected == y)),
                        int(np.sum(predicted == expected)), len(y),
                        float(np.max(np.abs(p - p_ref))) if len(y) else 0.0)


def check(name: str, verification: Verification, bound: Bound) -> None:
    """Raises MnistTfError (one line naming ``name``) when ``verification`` is outside ``bound``."""
    if not verification.within(bound):
        raise MnistTfError(f"{name}: refused, outside its bound ({bound.describe()}): "
                           f"{verification.describe()}; nothing was written")


def evaluate_predictor(predictor, images, labels, num_classes: int = 10) -> EvalResult:
    """Loss, accuracy and confusion matrix of ``predictor`` (uint8 [N, 28, 28] → [N, 10])."""
    p = predictor(images)
    y = np.asarray(labels).astype(np.int64)
    p_true = np.clip(p[np.arange(len(y)), y], EPSILON, 1 - EPSILON)
    predictions = p.argmax(-1)
    confusion = np.asarray(tf.math.confusion_matrix(y, predictions, num_classes=num_classes))
    return EvalResult(float(np.mean(-np.log(p_true))), float(np.mean(predictions == y)),
                      len(y), confusion, predictions)
