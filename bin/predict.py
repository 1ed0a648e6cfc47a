"""Classifies digits in image files: python bin/predict.py --model PATH [--json] FILE...

PATH is a SavedModel (bin/export.py, or a run's <logdir>/export), a LiteRT
``.tflite`` or ONNX ``.onnx`` file (bin/export.py --format), or a checkpoint
prefix, checkpoint directory or run logdir. FILE is an image (PNG,
JPEG, GIF, BMP or still WebP; up to 40 megapixels, preprocess.MAX_PIXELS; dark
ink on light paper or light on dark), prepared as MNIST's digits were (see
mnist_tf/preprocess.py), or an IDX images file, raw or gzipped (every digit in
it is classified).

Prints one line per digit: the file, the digit, the top three probabilities;
with --json one JSON object per digit instead ({"file", "digit",
"probabilities": [10 floats]}, plus "index" for digits of an IDX file). A file
that cannot be read is reported on stderr as one ``error: FILE: ...`` line and
the others are still classified; the exit status is 1 if any file failed. A
model whose outputs are not finite (a diverged run) is one error line for the
whole run, and nothing is printed.

Examples:
  python bin/predict.py --model logs/20261126-184502/export seven.png three.jpg
  python bin/predict.py --model logs/20261126-184502 --json t10k-images-idx3-ubyte.gz
"""

import _app  # first: quiets TensorFlow before it is imported

import json
import sys

import numpy as np
from absl import flags

from mnist_tf import preprocess
from mnist_tf.deploy.predictor import load_predictor
from mnist_tf.errors import MnistTfError

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None,
                    "A SavedModel directory, a .tflite or .onnx file, or a checkpoint prefix, "
                    "checkpoint directory or run logdir.")
flags.DEFINE_bool("json", False, "Print one JSON object per digit instead of text.")
flags.DEFINE_float("threshold", preprocess.THRESHOLD,
                   "Ink level (0..1, after background removal) that counts towards the digit's "
                   "bounding box; raise it for noisy photos.", lower_bound=0.0, upper_bound=1.0)
MODEL_HELP = ("--model: pass a SavedModel directory written by bin/export.py or bin/train.py "
              "(<logdir>/export), a .tflite or .onnx file (bin/export.py --format), or a "
              "run's logdir or checkpoint")


def format_line(name: str, probabilities) -> str:
    """``seven.png: 7  (7 99.8%, 1 0.1%, 2 0.0%)``."""
    top = np.argsort(-probabilities, kind="stable")[:3]
    ranked = ", ".join(f"{d} {100 * probabilities[d]:.1f}%" for d in top)
    return f"{name}: {int(top[0])}  ({ranked})"


def report(path: str, probabilities, from_idx: bool) -> None:
    for i, p in enumerate(probabilities):
        if FLAGS.json:
            record = {"file": path, **({"index": i} if from_idx else {}),
                      "digit": int(np.argmax(p)), "probabilities": [float(v) for v in p]}
            print(json.dumps(record), flush=True)
        else:
            print(format_line(f"{path}[{i}]" if from_idx else path, p), flush=True)


def main(argv):
    files = argv[1:]
    if FLAGS.model is None:
        _app.fail(MODEL_HELP, status=2)
    if not files:
        _app.fail("no files to classify: python bin/predict.py --model PATH FILE...", status=2)
    with _app.quiet_stderr():  # LiteRT's delegate announces itself on stderr
        predictor = load_predictor(FLAGS.model)
    failed = 0
    for path in files:
        try:
            images, from_idx = preprocess.load_digits(path, FLAGS.threshold)
        except (MnistTfError, OSError) as e:
            message = str(e) if isinstance(e, MnistTfError) else f"{path}: {e.strerror or e}"
            print(f"error: {message}", file=sys.stderr, flush=True)
            failed += 1
            continue
        report(path, predictor(images), from_idx)
    if failed:
        sys.exit(1)  # each failure already has its own error line


if __name__ == "__main__":
    _app.run(main)
