"""The reference run itself: the Keras example trained with ``model.fit``: python bin/keras_reference.py.

Every accuracy this project reports for the reference CNN is compared with
what Keras gets from the same recipe on the same machine. This is that recipe,
so that the comparison can be re-run; like our twin (``keras_oracle/twins.py``) it
outputs logits and takes integer labels where the Keras example has a softmax
layer, one-hot labels and ``categorical_crossentropy`` (the same loss)::

    model = keras_twins.keras_example_cnn()          # Conv 32 → pool → Conv 64 → pool → Dropout → Dense
    model.compile(Adam(1e-3), SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    model.fit(x_train, y_train, batch_size=128, epochs=15, validation_split=0.1)
    model.evaluate(x_test, y_test)

with ``keras.utils.set_random_seed(--seed)`` first (Keras's own initial
weights, shuffling and dropout masks: the same seed does not give the same
run as ``bin/train.py --seed``, only the same recipe) and
``keras.mixed_precision.set_dtype_policy(--precision)``. The last line is JSON:
``{"precision", "compute_dtype", "seed", "epochs", "train_images", "test_accuracy",
"test_loss", "wall_seconds"}``.

Examples:
  python bin/keras_reference.py                                   # float32, seed 0
  python bin/keras_reference.py --precision=mixed_bfloat16 --seed=1
"""

import _app  # first: quiets TensorFlow before it is imported

import json
import time

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                  "Keras's global dtype policy (keras.mixed_precision.set_dtype_policy).")
flags.DEFINE_integer("seed", 0, "keras.utils.set_random_seed: weights, shuffling, dropout.")
flags.DEFINE_integer("epochs", 15, "Passes over the training images.", lower_bound=1)
flags.DEFINE_integer("batch_size", 128, "Images per step.", lower_bound=1)
flags.DEFINE_float("validation_split", 0.1, "Fraction of the training images held out "
                   "(the last ones, as model.fit takes them).", lower_bound=0.0, upper_bound=0.5)
flags.DEFINE_integer("train_images", None, "Train on the first N training images only "
                     "(a quick trial; default: all 60,000).", lower_bound=1)
flags.DEFINE_string("data_dir", None, "A directory with the four MNIST .gz files (default: cache).")


def main(argv):
    del argv
    import keras

    from keras_oracle import twins as keras_twins
    from mnist_tf.data import sources

    data = sources.load(FLAGS.data_dir)
    keras.utils.set_random_seed(FLAGS.seed)
    keras.mixed_precision.set_dtype_policy(FLAGS.precision)
    model = keras_twins.keras_example_cnn()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    x_train, y_train = keras_twins.as_arrays(data.x_train[:FLAGS.train_images],
                                             data.y_train[:FLAGS.train_images])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=FLAGS.batch_size, epochs=FLAGS.epochs,
              validation_split=FLAGS.validation_split, verbose=2)
    loss, accuracy = model.evaluate(*keras_twins.as_arrays(data.x_test, data.y_test), verbose=0)
    print(f"test loss {loss:.4f}  test accuracy {accuracy:.4f}")
    print(json.dumps({"precision": FLAGS.precision, "compute_dtype": model.layers[0].compute_dtype,
                      "seed": FLAGS.seed, "epochs": FLAGS.epochs, "train_images": len(y_train),
                      "test_accuracy": accuracy, "test_loss": loss,
                      "wall_seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    _app.run(main)
