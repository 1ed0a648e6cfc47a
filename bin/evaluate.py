"""Evaluates a trained model on the MNIST test set: python bin/evaluate.py --checkpoint PATH.

PATH is a checkpoint prefix (logs/RUN/checkpoints/ckpt-15), a checkpoint
directory (its newest checkpoint is used) or a run's logdir. Or, instead,
``--model FILE``: an exported model, a SavedModel directory, a LiteRT ``.tflite``
or an ONNX ``.onnx`` file (bin/export.py), run in its own runtime on the raw
uint8 test pixels (``mnist_tf/deploy/predictor.py``; its loss is that of its
probabilities, clipped as Keras clips them). Prints the test loss and accuracy,
the per-class accuracy and the confusion matrix; the last line is JSON with all
of them.

Examples:
  python bin/evaluate.py --checkpoint logs/20261126-184502
  python bin/evaluate.py --model logs/20261126-184502/model_int8.tflite
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
flags.DEFINE_string("model", None,
                    f"With --checkpoint, the network ({', '.join(sorted(models.MODELS))}; "
                    "default: the run's config.json). Alone, an exported model to evaluate: a "
                    "SavedModel directory, a .tflite or an .onnx file.")
flags.DEFINE_string("data_dir", None, "A directory with the four MNIST .gz files (default: cache).")
flags.DEFINE_integer("batch_size", 1000, "Images per evaluation batch.", lower_bound=1)
flags.DEFINE_enum("device", "auto", devices.DEVICE_CHOICES, "Where to evaluate: auto, cpu or gpu.")


def format_confusion(confusion) -> str:
    """The confusion matrix as text: rows true class, columns predicted."""
    k = len(confusion)
    lines = ["true\\pred " + " ".join(f"{j:>5d}" for j in range(k))]
    lines += [f"{i:>9d} " + " ".join(f"{int(c):>5d}" for c in row)
              for i, row in enumerate(confusion)]
    return "\n".join(lines)


def evaluate_checkpoint(path: str, model_name: str):
    """(label, EvalResult) of the network restored from a checkpoint."""
    device = devices.select_device(FLAGS.device)
    import tensorflow as tf
    with tf.device(device):
        model, prefix = saved_runs.load_model(path, model_name)
        data = sources.load(FLAGS.data_dir)
        return ("checkpoint", prefix), evaluate(
            make_eval_step(model), pipeline.eval_dataset(data.x_test, data.y_test,
                                                         FLAGS.batch_size))


def evaluate_exported(path: str):
    """(label, EvalResult) of an exported model, loaded before any image is read."""
    from mnist_tf.deploy.predictor import load_predictor
    from mnist_tf.deploy.verify import evaluate_predictor

    with _app.quiet_stderr():  # LiteRT's delegate announces itself on stderr
        predictor = load_predictor(path)
    data = sources.load(FLAGS.data_dir)
    return ("model", path), evaluate_predictor(predictor, data.x_test, data.y_test)


def main(argv):
    del argv
    exported = FLAGS.model is not None and FLAGS.model not in models.MODELS
    if exported and FLAGS.checkpoint is not None:
        _app.fail(f"--model {FLAGS.model} is not a network ({', '.join(sorted(models.MODELS))}), "
                  f"and an exported model is evaluated without --checkpoint: pass one of them",
                  status=2)
    if not exported and FLAGS.checkpoint is None:
        _app.fail("--checkpoint: pass a checkpoint, checkpoint directory or run logdir (or "
                  "--model with a SavedModel, .tflite or .onnx)", status=2)
    if exported:
        (key, source), result = evaluate_exported(FLAGS.model)
    else:
        (key, source), result = evaluate_checkpoint(FLAGS.checkpoint, FLAGS.model)
    print(f"{key}: {source}")
    print(f"test loss {result.loss:.4f}  test accuracy {result.accuracy:.4f}  "
          f"({result.count:,} images)")
    print("per-class accuracy: " + "  ".join(
        f"{digit}:{acc:.4f}" for digit, acc in enumerate(result.per_class_accuracy)))
    print(format_confusion(result.confusion))
    print(json.dumps({key: source, **result.to_dict()}))


if __name__ == "__main__":
    _app.run(main)
