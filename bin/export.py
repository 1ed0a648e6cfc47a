"""Exports a trained model as a SavedModel: python bin/export.py --checkpoint_dir DIR --export_dir OUT.

DIR is a checkpoint directory (its newest checkpoint is used), a run's logdir
or a checkpoint prefix. The SavedModel's ``serving_default`` signature takes
``images`` uint8 [N, 28, 28] (raw MNIST pixels) and returns ``probabilities``
float32 [N, 10] and ``digit`` int64 [N]; see ``mnist_tf/export.py``.

Example:
  python bin/export.py --checkpoint_dir logs/20261126-184502 --export_dir exports/cnn
  python bin/predict.py --model exports/cnn digit.png
"""

import _app  # first: quiets TensorFlow before it is imported

from absl import flags

from mnist_tf import export, models
from mnist_tf.runs import saved_runs

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint_dir", None,
                    "A checkpoint directory, a run's logdir, or a checkpoint prefix.")
flags.DEFINE_string("export_dir", None, "The SavedModel directory to write (replaced if it exists).")
flags.DEFINE_enum("model", None, sorted(models.MODELS),
                  "The network (default: the run's config.json).")
flags.mark_flag_as_required("checkpoint_dir")
flags.mark_flag_as_required("export_dir")


def main(argv):
    if len(argv) > 1:
        _app.fail(f"unexpected arguments: {' '.join(argv[1:])}", status=2)
    model, prefix = saved_runs.load_model(FLAGS.checkpoint_dir, FLAGS.model)
    path = export.export_saved_model(model, FLAGS.export_dir)
    print(f"checkpoint: {prefix}")
    print(f"export: {path}")
    print(export.describe_signature(path))


if __name__ == "__main__":
    _app.run(main)
