"""The speedrun's network: a slim convnet that pools before its ReLUs.

``--model=fast_cnn`` (``bin/flags/fast.flags``, ``bin/flags/fast995.flags``).
The shape of the fastest published MNIST runs: a wide 5×5 first convolution,
a narrow second one, and a hidden layer of 256 where the reference has
dropout::

    [B, 28, 28, 1]
    Conv2D(24, 5×5)                    → [B, 24, 24, 24]    5·5·1·24 + 24  =     624
    MaxPool2D(2) → ReLU                → [B, 12, 12, 24]
    Conv2D(32, 3×3)                    → [B, 10, 10, 32]    3·3·24·32 + 32 =   6,944
    MaxPool2D(2) → ReLU                → [B, 5, 5, 32]
    Flatten                            → [B, 800]
    Dense(256, relu)                   → [B, 256]           800·256 + 256  = 205,056
    Dense(10)                          → [B, 10] logits     256·10 + 10    =   2,570
                                                            total            215,194

**Pooling before ReLU** computes the same numbers as the reference's ReLU
then pool: max and ReLU are both monotone, so
max_{window}(max(z, 0)) = max(max_{window} z, 0); but the ReLU and its
backward pass then see a quarter of the values. Multiply-adds per image:
24²·25·24 + 10²·216·32 + 800·256 + 256·10 ≈ 1.25 M, half the reference's
2.4 M (26²·9·32 + 11²·288·64 + 1,600·10): more parameters (the hidden layer)
but less arithmetic, and on a CPU the arithmetic is the time. No dropout,
no batch normalization: a run of two epochs under-fits rather than over-fits.
Layer names are Keras's, so the Keras twin (``keras_oracle/twins.py``, tested
in ``tests/test_fast_cnn.py``) lines up layer by layer.
"""

from mnist_tf.layers import Activation, Conv2D, Dense, Flatten, MaxPool2D, Sequential


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

    def layer_seed(i):
        return None if seed is None else (seed, i)

    return Sequential([
        Conv2D(24, 5, seed=layer_seed(0), name="conv2d"),
        MaxPool2D(2, name="max_pooling2d"),
        Activation("relu", name="activation"),
        Conv2D(32, 3, seed=layer_seed(1), name="conv2d_1"),
        MaxPool2D(2, name="max_pooling2d_1"),
        Activation("relu", name="activation_1"),
        Flatten(name="flatten"),
        Dense(256, activation="relu", seed=layer_seed(2), name="dense"),
        Dense(num_classes, seed=layer_seed(3), name="dense_1"),
    ], name="fast_cnn")
