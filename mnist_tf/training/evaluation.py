"""Evaluating a model on a whole split: mean loss, accuracy, per-class accuracy, confusion.

    loss     = (1/N) Σ_n CE(y_n, z_n)
    accuracy = (1/N) Σ_n [argmax z_n = y_n]
    C[i, j]  = #{n : y_n = i, argmax z_n = j}       (rows: true class, columns: predicted)
    per-class accuracy[i] = C[i, i] / Σ_j C[i, j]

Batches are summed, then divided once, so a partial last batch weighs exactly
its size (as ``model.evaluate`` does).
"""

import dataclasses

import numpy as np
import tensorflow as tf



@dataclasses.dataclass
class EvalResult:
    loss: float
    accuracy: float
    count: int
    confusion: np.ndarray          # [10, 10] int, rows true, columns predicted
    predictions: np.ndarray        # [N] int, in dataset order

    @property
    def per_class_accuracy(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1)

    def to_dict(self) -> dict:
        return {"loss": self.loss, "accuracy": self.accuracy, "count": self.count,
                "per_class_accuracy": [round(float(a), 6) for a in self.per_class_accuracy],
                "confusion_matrix": self.confusion.tolist()}


def evaluate(eval_step, dataset, num_classes: int = 10) -> EvalResult:
    """Runs ``eval_step`` (from ``step.make_eval_step``) over every batch of ``dataset``."""
    loss_sum, correct, labels, predictions = 0.0, 0.0, [], []
    for images, batch_labels in dataset:
        out = eval_step(images, batch_labels)
        loss_sum += float(out["loss_sum"])
        correct += float(out["correct"])
        labels.append(batch_labels.numpy())
        predictions.append(out["predictions"].numpy())
    if not labels:
        return EvalResult(float("nan"), float("nan"), 0,
                          np.zeros((num_classes, num_classes), np.int64), np.zeros(0, np.int64))
    labels = np.concatenate(labels)
    predictions = np.concatenate(predictions)
    confusion = tf.math.confusion_matrix(labels, predictions, num_classes=num_classes)
    n = len(labels)
    return EvalResult(loss_sum / n, correct / n, n, np.asarray(confusion), predictions)
