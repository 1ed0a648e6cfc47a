"""The reference network: Keras's "Simple MNIST convnet" (keras.io/examples/vision/mnist_convnet).

    [B, 28, 28, 1]
    Conv2D(32, 3×3, relu)   → [B, 26, 26, 32]     3·3·1·32 + 32  =    320
    MaxPool2D(2)            → [B, 13, 13, 32]
    Conv2D(64, 3×3, relu)   → [B, 11, 11, 64]     3·3·32·64 + 64 = 18,496
    MaxPool2D(2)            → [B, 5, 5, 64]       (⌊11/2⌋: the last row/column is dropped)
    Flatten                 → [B, 1600]
    Dropout(0.5)            → [B, 1600]           (training only)
    Dense(10)               → [B, 10] logits      1600·10 + 10   = 16,010
                                                  total            34,826

The Keras example ends in ``Dense(10, activation="softmax")``; we output
logits and let the loss fuse the softmax (``from_logits=True``, see
``mnist_tf.losses``), and ``models.predict_probabilities`` applies it for
predictions. Layer names are Keras's, so the two models line up layer by layer.
"""

from mnist_tf.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Sequential


def keras_example_cnn(num_classes=10, dropout_rate=0.5, seed=0):
    """Builds (but does not yet create the variables of) the reference CNN.

    Args:
      num_classes: outputs of the last layer; 10 digits.
      dropout_rate: Keras's 0.5; 0 turns dropout off (useful for exact comparisons).
      seed: int → reproducible initial weights and dropout stream (layer i draws
        with the stateless seed (seed, i)); None → nondeterministic.

    Returns:
      A ``Sequential`` mapping images [B, 28, 28, 1] to logits [B, num_classes].
    """

    def layer_seed(i):
        return None if seed is None else (seed, i)

    return Sequential([
        Conv2D(32, 3, activation="relu", seed=layer_seed(0), name="conv2d"),
        MaxPool2D(2, name="max_pooling2d"),
        Conv2D(64, 3, activation="relu", seed=layer_seed(1), name="conv2d_1"),
        MaxPool2D(2, name="max_pooling2d_1"),
        Flatten(name="flatten"),
        Dropout(dropout_rate, seed=layer_seed(2), name="dropout"),
        Dense(num_classes, seed=layer_seed(3), name="dense"),
    ], name="keras_example_cnn")
