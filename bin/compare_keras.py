"""Trains our network and the Keras example side by side, step by step: python bin/compare_keras.py.

For study: the two should be the same computation, so given the same start
they should stay together to float round-off. This tool makes that visible:

1. builds our ``--model`` (default ``keras_example_cnn``) and its Keras twin
   (``keras_oracle/twins.py``; for the default, the Keras example: Input(28,28,1) →
   Conv2D(32,3,relu) → MaxPooling2D(2) → Conv2D(64,3,relu) → MaxPooling2D(2) →
   Flatten → Dropout(0.5) → Dense(10), logits), and copies our initial weights
   into Keras (``keras_twins.copy_weights``: BatchNormalization's moving
   statistics too);
2. feeds both the same batches of real MNIST (the first ``steps × batch_size``
   training images, in order);
3. takes one Adam(1e-3) step on each with its own optimizer — ours is the very
   step ``bin/train.py`` runs (``mnist_tf.training.step.make_train_step``: our
   loss, our Adam), Keras's a GradientTape with ``SparseCategoricalCrossentropy(from_logits=True)``
   and ``keras.optimizers.Adam.apply_gradients``;
4. prints both losses and the largest |w_ours − w_keras| over all weights.

Precision: the two compute the same formulas with different kernels (e.g. a
bias gradient summed in a different order), so in float32 they differ by
round-off (~1e-7) from the first step. Adam then amplifies it: a weight whose
gradient is near zero moves by ±η·m̂/(√v̂ + ε) ≈ ±η whatever the gradient's size,
so a round-off flip of its sign moves it by up to 2η = 2e-3. Measured over the
default 50 steps: float32 runs end ~1e-3 apart in the most affected weight and
~1e-4 in the loss; with ``--dtype=float64`` they stay within ~1e-15 in both,
float64's own round-off: the updates are the same to the last bits. The math is
the same; what float32 shows is its arithmetic. That is why float64 is the
default here: it shows the math; ``--dtype=float32`` shows training as it runs.

Dropout: by default both models are built with a dropout rate of 0 (dropout
off), because the two frameworks draw different random masks and the
comparison would then show the masks, not the math. Both run with
``training=True`` inside the gradient step, so that a BatchNormalization layer
normalizes with the batch's statistics and updates its moving ones, in both
(the largest weight difference covers the moving statistics). With
``--dropout`` both keep their model's dropout rate: the curves then agree only
in trend.

TensorBoard: the two loss curves are the runs ``ours`` and ``keras`` under
``--logdir`` with the same tag ``loss``, so they overlay. The last line printed
is JSON: ``{"model", "steps", "max_loss_difference", "max_weight_difference", ...}``.

Example:
  python bin/compare_keras.py --steps 200 && tensorboard --logdir logs/compare_keras
  python bin/compare_keras.py --model=bn_cnn --steps 20
"""

import _app  # first: quiets TensorFlow before it is imported

import json
import os

from absl import flags

from keras_oracle import twins as keras_twins

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "keras_example_cnn", sorted(keras_twins.TWINS),
                  "Which of our models to compare with its Keras twin.")
flags.DEFINE_integer("steps", 50, "Training steps to compare.", lower_bound=1)
flags.DEFINE_integer("batch_size", 128, "Images per step.", lower_bound=1)
flags.DEFINE_float("learning_rate", 1e-3, "Adam's learning rate, for both.")
flags.DEFINE_integer("seed", 0, "Seeds our initial weights (copied into Keras).")
flags.DEFINE_bool("dropout", False, "Run both models with dropout on (masks differ: trend only).")
flags.DEFINE_enum("dtype", "float64", ["float32", "float64"],
                  "Weights and arithmetic of both models. float64 removes the round-off that "
                  "Adam amplifies in float32.")
flags.DEFINE_string("logdir", "logs/compare_keras", "TensorBoard directory (runs ours, keras).")
flags.DEFINE_string("data_dir", None, "A directory with the four MNIST .gz files (default: cache).")


def make_our_step(model, optimizer, dtype: str):
    """The training step ``bin/train.py`` runs (``make_train_step``), for images of ``dtype``."""
    import tensorflow as tf

    from mnist_tf.training import step

    images = tf.TensorSpec([None, 28, 28, 1], dtype, name="images")
    train_step = step.make_train_step(model, optimizer,
                                      input_signature=(images, step.LABELS_SPEC))
    return lambda images, labels: train_step(images, labels)["loss"]


def make_keras_step(model, learning_rate: float):
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    return step


def main(argv):
    del argv
    import numpy as np
    import tensorflow as tf

    import keras

    from mnist_tf import models, optimizers
    from mnist_tf.data import pipeline, sources

    keras.config.set_floatx(FLAGS.dtype)
    # Both steps run with training=True (as in bin/train.py): dropout off is rate 0.
    dropout = {} if FLAGS.dropout else {"dropout_rate": 0.0}  # on: the model's own rate
    ours = models.get(FLAGS.model, seed=FLAGS.seed, **dropout)
    ours(tf.zeros([1, 28, 28, 1], FLAGS.dtype))  # builds: the variables take the input's dtype
    theirs = keras_twins.copy_weights(ours, keras_twins.make_twin(FLAGS.model, **dropout))
    pairs = keras_twins.paired_weights(ours, theirs)

    optimizer = optimizers.Adam(learning_rate=FLAGS.learning_rate)
    optimizer.build(ours.trainable_variables)
    our_step = make_our_step(ours, optimizer, FLAGS.dtype)
    keras_step = make_keras_step(theirs, FLAGS.learning_rate)

    data = sources.load(FLAGS.data_dir)
    n = FLAGS.steps * FLAGS.batch_size
    index = np.arange(n) % len(data.x_train)  # wraps around for very long comparisons
    images = tf.cast(pipeline.to_float(data.x_train[index]), FLAGS.dtype)
    labels = tf.constant(data.y_train[index], tf.int32)

    writers = {run: tf.summary.create_file_writer(os.path.join(FLAGS.logdir, run))
               for run in ("ours", "keras")}
    print(f"{FLAGS.model}: {FLAGS.steps} steps of batch {FLAGS.batch_size}, Adam({FLAGS.learning_rate}), "
          f"{FLAGS.dtype}, dropout {'on' if FLAGS.dropout else 'off'}; "
          f"TensorBoard: {FLAGS.logdir}")
    print(f"{'step':>5} {'loss ours':>12} {'loss keras':>12} {'|Δ loss|':>10} {'max |Δ w|':>10}")
    max_loss_difference = max_weight_difference = 0.0
    for step in range(1, FLAGS.steps + 1):
        batch = slice((step - 1) * FLAGS.batch_size, step * FLAGS.batch_size)
        loss_ours = float(our_step(images[batch], labels[batch]))
        loss_keras = float(keras_step(images[batch], labels[batch]))
        weight_difference = max(float(np.max(np.abs(mine.numpy() - np.asarray(theirs_w))))
                                for mine, theirs_w in pairs)
        loss_difference = abs(loss_ours - loss_keras)
        max_loss_difference = max(max_loss_difference, loss_difference)
        max_weight_difference = max(max_weight_difference, weight_difference)
        for run, value in (("ours", loss_ours), ("keras", loss_keras)):
            with writers[run].as_default(step=step):
                tf.summary.scalar("loss", value)
        print(f"{step:>5} {loss_ours:>12.6f} {loss_keras:>12.6f} {loss_difference:>10.2e} "
              f"{weight_difference:>10.2e}", flush=True)
    for writer in writers.values():
        writer.close()
    print(json.dumps({"model": FLAGS.model, "steps": FLAGS.steps, "batch_size": FLAGS.batch_size,
                      "dtype": FLAGS.dtype, "dropout": FLAGS.dropout, "final_loss_ours": loss_ours,
                      "final_loss_keras": loss_keras, "max_loss_difference": max_loss_difference,
                      "max_weight_difference": max_weight_difference}))


if __name__ == "__main__":
    _app.run(main)
