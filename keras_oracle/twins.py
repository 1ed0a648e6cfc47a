"""The Keras twin of each of our models, in one place: ``TWINS[name]()``, ``copy_weights``.

A twin is the same network written with ``keras.layers``: the same layers in the
same order, the same defaults (BatchNormalization's momentum 0.99 and ε 1e-3),
logits out (the softmax lives in the loss). Given our weights
(``copy_weights``) it computes what ours computes, which is what the tests,
``bin/compare_keras.py`` and ``bin/benchmark.py`` rely on. Keras is imported
here (the keras_oracle package), in bin/ and in tests, never in mnist_tf/ (``tests/test_no_keras.py``).

A twin's layers take Keras's global dtype policy when they are made: set it
with ``keras.mixed_precision.set_dtype_policy`` first, or pass ``policy=`` to
:func:`make_twin`, which sets it for the build and restores it after.

Usage::

    from keras_oracle import twins
    ours = models.build(models.get("bn_cnn", seed=0))
    theirs = twins.TWINS["bn_cnn"]()
    twins.copy_weights(ours, theirs)            # theirs(x) == ours(x)
"""

import keras
import numpy as np


def as_arrays(images, labels):
    """MNIST as the Keras example feeds ``fit``: uint8 ``[N, 28, 28]`` → float32
    ``[N, 28, 28, 1]`` in [0, 1] (``x / 255``), labels → int32 ``[N]``."""
    return images[..., None].astype(np.float32) / 255.0, labels.astype(np.int32)


def keras_example_cnn(num_classes=10, dropout_rate=0.5):
    """The Keras "simple MNIST convnet" (our ``models.keras_example_cnn``)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dropout(dropout_rate),
        keras.layers.Dense(num_classes)])


def _conv_bn_relu(filters):
    """Conv2D(filters, 3×3, no bias) → BatchNormalization → ReLU: BN's β replaces the bias."""
    return [keras.layers.Conv2D(filters, 3, use_bias=False), keras.layers.BatchNormalization(),
            keras.layers.Activation("relu")]


def keras_example_cnn_bn(num_classes=10, dropout_rate=0.5):
    """The reference CNN with BatchNormalization after each convolution
    (our ``models.keras_example_cnn_bn``)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        *_conv_bn_relu(32), keras.layers.MaxPooling2D(2),
        *_conv_bn_relu(64), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dropout(dropout_rate),
        keras.layers.Dense(num_classes)])


def bn_cnn(num_classes=10, dropout_rate=0.4):
    """Two blocks of two conv-BN-ReLU, a BN'd hidden layer, dropout (our ``models.bn_cnn``)."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        *_conv_bn_relu(32), *_conv_bn_relu(32), keras.layers.MaxPooling2D(2),
        *_conv_bn_relu(64), *_conv_bn_relu(64), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, use_bias=False), keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"), keras.layers.Dropout(dropout_rate),
        keras.layers.Dense(num_classes)])


def fast_cnn(num_classes=10, dropout_rate=0.0):
    """Conv 24@5×5 → pool → ReLU, conv 32@3×3 → pool → ReLU, Dense 256 (ReLU), Dense
    (our ``models.fast_cnn``; no dropout layer, so ``dropout_rate`` must be 0)."""
    if dropout_rate:
        raise ValueError(f"fast_cnn has no dropout layer, got dropout_rate={dropout_rate}")
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(24, 5), keras.layers.MaxPooling2D(2), keras.layers.Activation("relu"),
        keras.layers.Conv2D(32, 3), keras.layers.MaxPooling2D(2), keras.layers.Activation("relu"),
        keras.layers.Flatten(), keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(num_classes)])


# Our model name (``mnist_tf.models.MODELS``) → its twin's builder.
TWINS = {"keras_example_cnn": keras_example_cnn, "keras_example_cnn_bn": keras_example_cnn_bn,
         "bn_cnn": bn_cnn, "fast_cnn": fast_cnn}


def make_twin(name, policy=None, **kwargs):
    """``TWINS[name](**kwargs)``, its layers made under the dtype ``policy`` (a Keras policy
    name such as ``"mixed_bfloat16"``; None: the current global one), which is restored after."""
    if name not in TWINS:
        raise ValueError(f"no Keras twin of {name!r}; twins: {', '.join(sorted(TWINS))}")
    if policy is None:
        return TWINS[name](**kwargs)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        return TWINS[name](**kwargs)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def ours_in_keras_order(ours):
    """Our model's variables in the order of ``keras_model.weights``: layer by layer, each
    layer's trainable variables (kernel, bias or γ, β) then its moving statistics."""
    return [v for layer in ours.layers
            for v in (*layer.trainable_variables,
                      *getattr(layer, "non_trainable_variables", ()))]


def paired_weights(ours, theirs):
    """``[(our variable, its Keras weight)]`` over every weight, checked shape by shape."""
    mine, keras_weights = ours_in_keras_order(ours), list(theirs.weights)
    if len(mine) != len(keras_weights):
        raise ValueError(f"{len(mine)} weights in ours, {len(keras_weights)} in the Keras twin")
    for a, b in zip(mine, keras_weights):
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(f"our {a.name} has shape {tuple(a.shape)}, Keras's {b.path} "
                             f"{tuple(b.shape)}")
    return list(zip(mine, keras_weights))


def copy_weights(ours, theirs):
    """Copies our (built) model's weights, moving statistics included, into its Keras twin;
    returns ``theirs``."""
    theirs.set_weights([mine.numpy() for mine, _ in paired_weights(ours, theirs)])
    return theirs
