"""The Keras example's CNN with batch normalization after each convolution.

``--model=keras_example_cnn_bn``: the reference network (``keras_example_cnn.py``) with each
convolution's bias replaced by BatchNormalization (BN's β takes the bias's
place: a bias before BN would be subtracted out with the batch mean). BN lets a much
larger learning rate train stably::

    [B, 28, 28, 1]
    Conv2D(32, 3×3, no bias) → BN → ReLU    → [B, 26, 26, 32]     288 +    64 (+64)
    MaxPool2D(2)                            → [B, 13, 13, 32]
    Conv2D(64, 3×3, no bias) → BN → ReLU    → [B, 11, 11, 64]  18,432 +   128 (+128)
    MaxPool2D(2)                            → [B, 5, 5, 64]
    Flatten                                 → [B, 1600]
    Dropout(0.5)                            → [B, 1600]         (training only)
    Dense(10)                               → [B, 10] logits   16,010
                                   trainable parameters        34,922
                                   + moving statistics (not trainable)  192

Kernel (weights) + BN γ, β, and in brackets BN's moving mean and variance.
About 2.5 M multiply-adds per image, as the reference CNN.
"""

from mnist_tf.layers import Activation, BatchNormalization, Conv2D
from mnist_tf.models.keras_example_cnn import keras_example_cnn


def keras_example_cnn_bn(num_classes=10, dropout_rate=0.5, seed=0):
    """Builds (but does not yet create the variables of) the reference CNN with BN.

    Arguments as :func:`~mnist_tf.models.keras_example_cnn.keras_example_cnn`, whose layers (and
    seeds) it reuses: each Conv2D loses its bias and ReLU, and gains BN then ReLU.
    """
    reference = keras_example_cnn(num_classes, dropout_rate, seed)
    layers = []
    for layer in reference.layers:
        if isinstance(layer, Conv2D):
            suffix = layer.name[len("conv2d"):]  # "", "_1": Keras's names, block by block
            layers += [Conv2D(layer.filters, layer.kernel_size, use_bias=False, seed=layer.seed,
                              name=layer.name),
                       BatchNormalization(name=f"batch_normalization{suffix}"),
                       Activation("relu", name=f"activation{suffix}")]
        else:
            layers.append(layer)
    return type(reference)(layers, name="keras_example_cnn_bn")
