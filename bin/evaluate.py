"""Evaluates a trained model on the MNIST test set: python bin/evaluate.py --checkpoint PATH.

PATH is a checkpoint prefix (logs/RUN/checkpoints/ckpt-15), a checkpoint
directory (its newest checkpoint is used) or a run's logdir. Prints the test
loss and accuracy, the per-class accuracy and the confusion matrix; the last
line is JSON with all of them.
"""

import _app  # first: quiets TensorFlow before it is imported

import json

from absl import flags

from mnist_tf import devices, models
from mnist_tf.data import pipeline, sources
from mnist_tf.runs import saved_runs
from mnist_tf.training.evaluation import evaluate
from mnist_tf.training.step import make_eval_step

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "A checkpoint prefix, checkpoint directory or run logdir.")
flags.DEFINE_enum("model", None, sorted(models.MODELS),
                  "The network (default: the run's config.json).")
flags.DEFINE_string("data_dir", None, "A directory with the four MNIST .gz files (default: cache).")
flags.DEFINE_integer("batch_size", 1000, "Images per evaluation batch.", lower_bound=1)
flags.DEFINE_enum("device", "auto", devices.DEVICE_CHOICES, "Where to evaluate: auto, cpu or gpu.")
flags.mark_flag_as_required("checkpoint")


def format_confusion(confusion) -> str:
    """The confusion matrix as text: rows true class, columns predicted."""
    k = len(confusion)
    lines = ["true\\pred " + " ".join(f"{j:>5d}" for j in range(k))]
    lines += [f"{i:>9d} " + " ".join(f"{int(c):>5d}" for c in row)
              for i, row in enumerate(confusion)]
    return "\n".join(lines)


def main(argv):
    del argv
    device = devices.select_device(FLAGS.device)
    import tensorflow as tf
    with tf.device(device):
        model, prefix = saved_runs.load_model(FLAGS.checkpoint, FLAGS.model)
        data = sources.load(FLAGS.data_dir)
        result = evaluate(make_eval_step(model),
                          pipeline.eval_dataset(data.x_test, data.y_test, FLAGS.batch_size))
    print(f"checkpoint: {prefix}")
    print(f"test loss {result.loss:.4f}  test accuracy {result.accuracy:.4f}  "
          f"({result.count:,} images)")
    print("per-class accuracy: " + "  ".join(
        f"{digit}:{acc:.4f}" for digit, acc in enumerate(result.per_class_accuracy)))
    print(format_confusion(result.confusion))
    print(json.dumps({"checkpoint": prefix, **result.to_dict()}))


if __name__ == "__main__":
    _app.run(main)
