"""Exports a trained model: python bin/export.py --checkpoint_dir DIR [--format=F] [--output PATH].

DIR is a checkpoint directory (its newest checkpoint is used), a run's logdir,
a checkpoint prefix, or (for the file formats) a SavedModel directory. Formats:

    savedmodel    (default) a SavedModel directory at --export_dir; its
                  ``serving_default`` signature takes ``images`` uint8 [N, 28, 28]
                  (raw MNIST pixels) and returns ``probabilities`` float32 [N, 10] and
                  ``digit`` int64 [N]; see ``mnist_tf/export.py``
    litert        a float32 LiteRT flatbuffer (.tflite), the same signature
    litert_int8   full-integer int8 LiteRT: int8 weights and activations calibrated
                  on 300 training images, uint8 pixels in
    onnx          ONNX (.onnx) through tf2onnx, the same signature

A file format is converted from the SavedModel, then loaded in its own runtime
(LiteRT's Interpreter, ONNX Runtime) and run on the 10,000 test images: the tool
prints its accuracy, its agreement with the SavedModel and its size, and writes
--output (default: DIR/model.tflite, DIR/model_int8.tflite or DIR/model.onnx)
only if it is within its bound (``mnist_tf/deploy/verify.py``); otherwise one
error line, exit status 1, nothing written. The last line is JSON.

Example:
  python bin/export.py --checkpoint_dir logs/20261126-184502 --export_dir exports/cnn
  python bin/export.py --checkpoint_dir logs/20261126-184502 --format=litert_int8
  python bin/predict.py --model logs/20261126-184502/model_int8.tflite digit.png
"""

import _app  # first: quiets TensorFlow before it is imported

import json
import os
import tempfile

from absl import flags

from mnist_tf import export, models
from mnist_tf.deploy import formats
from mnist_tf.runs import disk_full, saved_runs

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint_dir", None,
                    "A checkpoint directory, a run's logdir, a checkpoint prefix, or (for the "
                    "file formats) a SavedModel directory.")
flags.DEFINE_enum("format", "savedmodel", formats.FORMATS, "What to write.")
flags.DEFINE_string("export_dir", None,
                    "--format=savedmodel: the SavedModel directory to write (replaced if it "
                    "exists).")
flags.DEFINE_string("output", None, "The file formats: the file to write (default: in "
                    "--checkpoint_dir, model.tflite, model_int8.tflite or model.onnx).")
flags.DEFINE_enum("model", None, sorted(models.MODELS),
                  "The network (default: the run's config.json).")
flags.DEFINE_string("data_dir", None, "A directory with the four MNIST .gz files (default: "
                    "cache): the test images verify the export, training images calibrate int8.")
flags.mark_flag_as_required("checkpoint_dir")


def default_output(checkpoint_dir: str, fmt: str) -> str:
    directory = checkpoint_dir if os.path.isdir(checkpoint_dir) else os.path.dirname(
        checkpoint_dir)
    return os.path.join(directory, formats.DEFAULT_NAMES[fmt])


def export_file(fmt: str, checkpoint_dir: str, output: str) -> None:
    """Converts, verifies and writes one file format; prints its figures."""
    import tensorflow as tf

    from mnist_tf.data import sources

    data = sources.load(FLAGS.data_dir)
    with tempfile.TemporaryDirectory(prefix="mnist_tf_export_") as scratch, _app.quiet_stderr():
        if tf.saved_model.contains_saved_model(checkpoint_dir):
            saved_model, source = checkpoint_dir, f"SavedModel: {checkpoint_dir}"
        else:
            model, prefix = saved_runs.load_model(checkpoint_dir, FLAGS.model)
            saved_model = export.export_saved_model(model, os.path.join(scratch, "export"))
            source = f"checkpoint: {prefix}"
        report = formats.write(fmt, saved_model, output, data.x_train, data.x_test,
                               data.y_test)
    print(source)
    print(f"export: {report.path}  ({fmt}, {report.size_bytes:,} bytes; the SavedModel "
          f"{report.reference_size_bytes:,})")
    print(f"verified: {report.verification.describe()}; within {report.bound.describe()}")
    print(json.dumps(report.to_dict()))


def main(argv):
    if len(argv) > 1:
        _app.fail(f"unexpected arguments: {' '.join(argv[1:])}", status=2)
    if FLAGS.format != "savedmodel":
        if FLAGS.export_dir is not None:
            _app.fail("--export_dir is for --format=savedmodel; the file formats take --output",
                      status=2)
        output = FLAGS.output or default_output(FLAGS.checkpoint_dir, FLAGS.format)
        suffix = formats.SUFFIXES[FLAGS.format]
        if not output.lower().endswith(suffix):
            _app.fail(f"--output: a {FLAGS.format} file's name ends in {suffix} (what "
                      f"bin/predict.py --model recognises), got {output}", status=2)
        return export_file(FLAGS.format, FLAGS.checkpoint_dir, output)
    if FLAGS.output is not None:
        _app.fail("--output is for the file formats; --format=savedmodel takes --export_dir",
                  status=2)
    if FLAGS.export_dir is None:
        _app.fail("--export_dir: the SavedModel directory to write (--format=savedmodel)",
                  status=2)
    model, prefix = saved_runs.load_model(FLAGS.checkpoint_dir, FLAGS.model)
    with disk_full.one_line("nothing was exported (a previous export there is kept): free "
                            "some space and export again"):
        path = export.export_saved_model(model, FLAGS.export_dir)
    print(f"checkpoint: {prefix}")
    print(f"export: {path}")
    print(export.describe_signature(path))


if __name__ == "__main__":
    _app.run(main)
