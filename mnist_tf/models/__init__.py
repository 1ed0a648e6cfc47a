"""Models by name (``MODELS``, ``get``), and what every model needs: build, count, summarise, predict.

New networks go beside ``keras_example_cnn.py`` and into ``MODELS``; ``--model`` picks one by name.
"""

import tensorflow as tf

from mnist_tf import precision
from mnist_tf.layers import softmax
from mnist_tf.models.bn_cnn import bn_cnn
from mnist_tf.models.keras_example_cnn import keras_example_cnn
from mnist_tf.models.keras_example_cnn_bn import keras_example_cnn_bn
from mnist_tf.models.summary import count_params, summary

MODELS = {"keras_example_cnn": keras_example_cnn, "keras_example_cnn_bn": keras_example_cnn_bn,
          "bn_cnn": bn_cnn}


def get(name: str, **kwargs):
    """``MODELS[name](**kwargs)``; an unknown name is a ValueError listing the known ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)


def build(model, input_shape=(1, 28, 28, 1)):
    """Creates the model's variables by calling it once on zeros of ``input_shape``; returns the model."""
    model(tf.zeros(input_shape), training=False)
    return model


def predict_probabilities(model, images) -> tf.Tensor:
    """softmax(model(images, training=False)): class probabilities [B, num_classes], float32
    (or float64) whatever the model's precision policy."""
    return softmax(precision.cast_logits(model(images, training=False)))


__all__ = ["MODELS", "bn_cnn", "build", "count_params", "get", "keras_example_cnn",
           "predict_probabilities", "summary"]
