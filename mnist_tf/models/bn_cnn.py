"""A deeper convnet with batch normalization: the network of the 99.6%+ recipe.

Two blocks of two 3×3 convolutions, each convolution followed by
BatchNormalization and ReLU (the convolutions have no bias: BN's β takes its
place, and a bias before BN would be subtracted out with the batch mean), then
a BN'd hidden layer and dropout. The layout of the best single CNNs on MNIST
(e.g. An et al. 2020), kept small enough for a 2-core CPU::

    [B, 28, 28, 1]
    Conv2D(32, 3×3, no bias) → BN → ReLU    → [B, 26, 26, 32]     288 +    64 (+64)
    Conv2D(32, 3×3, no bias) → BN → ReLU    → [B, 24, 24, 32]   9,216 +    64 (+64)
    MaxPool2D(2)                            → [B, 12, 12, 32]
    Conv2D(64, 3×3, no bias) → BN → ReLU    → [B, 10, 10, 64]  18,432 +   128 (+128)
    Conv2D(64, 3×3, no bias) → BN → ReLU    → [B, 8, 8, 64]    36,864 +   128 (+128)
    MaxPool2D(2)                            → [B, 4, 4, 64]
    Flatten                                 → [B, 1024]
    Dense(128, no bias) → BN → ReLU         → [B, 128]        131,072 +   256 (+256)
    Dropout(0.4)                            → [B, 128]         (training only)
    Dense(10)                               → [B, 10] logits    1,290
                                   trainable parameters       197,802
                                   + moving statistics (not trainable)  640

Kernel (weights) + BN γ, β, and in brackets BN's moving mean and variance.
About 10 M multiply-adds per image, 4× the reference CNN's 2.5 M. Layer names
are Keras's, so the Keras twin (``tests/test_bn_cnn.py``) lines up layer by layer.
"""

from mnist_tf.layers import (Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                             MaxPool2D, Sequential)


def bn_cnn(num_classes=10, dropout_rate=0.4, seed=0):
    """Builds (but does not yet create the variables of) the batch-normalized CNN.

    Args:
      num_classes: outputs of the last layer; 10 digits.
      dropout_rate: before the last layer; 0 turns dropout off (exact comparisons).
      seed: int → reproducible initial weights and dropout stream (layer i draws with
        the stateless seed (seed, i)); None → nondeterministic.

    Returns:
      A ``Sequential`` mapping images [B, 28, 28, 1] to logits [B, num_classes].
    """
    counter = iter(range(100))

    def layer_seed():
        index = next(counter)
        return None if seed is None else (seed, index)

    def suffix(i):
        return f"_{i}" if i else ""

    def conv_block(filters, i):
        return [Conv2D(filters, 3, use_bias=False, seed=layer_seed(), name=f"conv2d{suffix(i)}"),
                BatchNormalization(name=f"batch_normalization{suffix(i)}"),
                Activation("relu", name=f"activation{suffix(i)}")]

    return Sequential([
        *conv_block(32, 0), *conv_block(32, 1), MaxPool2D(2, name="max_pooling2d"),
        *conv_block(64, 2), *conv_block(64, 3), MaxPool2D(2, name="max_pooling2d_1"),
        Flatten(name="flatten"),
        Dense(128, use_bias=False, seed=layer_seed(), name="dense"),
        BatchNormalization(name="batch_normalization_4"),
        Activation("relu", name="activation_4"),
        Dropout(dropout_rate, seed=layer_seed(), name="dropout"),
        Dense(num_classes, seed=layer_seed(), name="dense_1"),
    ], name="bn_cnn")
