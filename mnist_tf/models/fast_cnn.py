"""The speedrun's network: a slim batch-normalized convnet that pools before it normalizes.

``--model=fast_cnn`` (``bin/flags/fast.flags``, ``bin/flags/fast995.flags``).
Three 3×3 convolutions, each followed by BatchNormalization and ReLU (no bias:
BN's β takes its place, a bias before BN would be subtracted out with the batch
mean). Where the map is pooled, the 2×2 max-pool comes straight after the
convolution, *before* BN and ReLU, so those two (and their backward passes,
memory-bound on a CPU) run on a quarter of the pixels: the order of the
fastest GPU MNIST runs. The 4×4×64 features go straight to the classifier (no
hidden layer, no dropout: a run of a few epochs under-fits rather than
over-fits)::

    [B, 28, 28, 1]
    Conv2D(32, 3×3, no bias)                → [B, 26, 26, 32]     288
    MaxPool2D(2) → BN → ReLU                → [B, 13, 13, 32]           +  64 (+64)
    Conv2D(64, 3×3, no bias) → BN → ReLU    → [B, 11, 11, 64]  18,432 + 128 (+128)
    Conv2D(64, 3×3, no bias)                → [B, 9, 9, 64]    36,864
    MaxPool2D(2) → BN → ReLU                → [B, 4, 4, 64]    (⌊9/2⌋)  + 128 (+128)
    Flatten                                 → [B, 1024]
    Dense(10)                               → [B, 10] logits   10,250
                                   trainable parameters        66,154
                                   + moving statistics (not trainable)  320

Kernel (weights) + BN γ, β, and in brackets BN's moving mean and variance.
Multiply-adds per image: 26²·288 + 11²·18,432 + 9²·36,864 + 10,240 ≈ 5.4 M
(``bn_cnn``: 10 M), but BN and ReLU see 13²·32 + 11²·64 + 4²·64 ≈ 14 k values per
image instead of ``bn_cnn``'s 62 k. Layer names are Keras's, so the Keras twin
(``keras_oracle/twins.py``, tested in ``tests/test_fast_cnn.py``) lines up layer by layer.
"""

from mnist_tf.layers import (Activation, BatchNormalization, Conv2D, Dense, Flatten, MaxPool2D,
                             Sequential)


def fast_cnn(num_classes=10, dropout_rate=0.0, seed=0):
    """Builds (but does not yet create the variables of) the speedrun's CNN.

    Args:
      num_classes: outputs of the last layer; 10 digits.
      dropout_rate: accepted for the models' common signature; must be 0 (no dropout).
      seed: int → reproducible initial weights (layer i draws with the stateless
        seed (seed, i)); None → nondeterministic.

    Returns:
      A ``Sequential`` mapping images [B, 28, 28, 1] to logits [B, num_classes].
    """
    if dropout_rate:
        raise ValueError(f"fast_cnn has no dropout layer, got dropout_rate={dropout_rate}")

    def block(filters, i, pool=None):
        suffix = f"_{i}" if i else ""
        return [Conv2D(filters, 3, use_bias=False, seed=None if seed is None else (seed, i),
                       name=f"conv2d{suffix}"),
                *([MaxPool2D(2, name=pool)] if pool else []),
                BatchNormalization(name=f"batch_normalization{suffix}"),
                Activation("relu", name=f"activation{suffix}")]

    return Sequential([
        *block(32, 0, pool="max_pooling2d"), *block(64, 1), *block(64, 2, pool="max_pooling2d_1"),
        Flatten(name="flatten"),
        Dense(num_classes, seed=None if seed is None else (seed, 3), name="dense"),
    ], name="fast_cnn")
