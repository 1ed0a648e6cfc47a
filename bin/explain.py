"""One digit's forward and backward pass as a picture: python bin/explain.py --model RUN [FILE...]

RUN is a run's logdir or a checkpoint (the layers are needed to run the
hand-written backward, so a SavedModel will not do). The digits are image
files (whatever bin/predict.py reads: PNG, JPEG, GIF, BMP, WebP, IDX) and/or
MNIST test digits by index, --test_index=0,7,247.

For each digit it writes ``<out_dir>/<name>.png``: the 28x28 the net sees, the
probabilities, saliency, gradient x input, SmoothGrad, integrated gradients,
Grad-CAM, each layer's activations and each layer's δ = ∂z_c/∂y, every panel
titled with its formula (see mnist_tf/explain/); and prints one line per
digit (with --json one JSON object: probabilities, per-layer sizes and the
attribution maps). c is the predicted class unless --target is given.

Examples:
  python bin/explain.py --model logs/20261126-184502 --test_index=0,1,2 --out_dir /tmp/explain
  python bin/explain.py --model logs/20261126-184502 --target=3 seven.png
"""

import _app  # first: quiets TensorFlow before it is imported

import json
import os

import numpy as np
import tensorflow as tf
from absl import flags

from mnist_tf import explain, preprocess
from mnist_tf.explain import attributions, passes, records, render

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A run's logdir, a checkpoint directory or a checkpoint prefix.")
flags.DEFINE_list("test_index", [], "MNIST test digits to explain, by index (0..9999).")
flags.DEFINE_string("out_dir", "explain", "Directory for the PNG sheets (created if missing).")
flags.DEFINE_integer("target", None, "The class c to explain (0..9); default: the predicted one.",
                     lower_bound=0, upper_bound=9)
flags.DEFINE_integer("ig_steps", attributions.IG_STEPS, "m, the integrated-gradients steps.",
                     lower_bound=1, upper_bound=1000)
flags.DEFINE_integer("smoothgrad_samples", attributions.SMOOTHGRAD_SAMPLES,
                     "n, SmoothGrad's noisy copies.", lower_bound=1, upper_bound=1000)
flags.DEFINE_float("smoothgrad_sigma", attributions.SMOOTHGRAD_SIGMA,
                   "σ of SmoothGrad's noise (pixels in [0, 1]).", lower_bound=0.0)
flags.DEFINE_bool("json", False, "Print one JSON object per digit instead of a line.")
flags.DEFINE_float("threshold", preprocess.THRESHOLD, "Ink level for the digit's bounding box "
                   "(as bin/predict.py).", lower_bound=0.0, upper_bound=1.0)


def _digits(files):
    """[(name, uint8 [28, 28], label or None)] from the test indices and the files."""
    digits = []
    if FLAGS.test_index:
        try:
            indices = [int(i) for i in FLAGS.test_index]
        except ValueError:
            _app.fail(f"--test_index: expected integers 0..9999, got {','.join(FLAGS.test_index)}",
                      status=2)
        if any(not 0 <= i < 10_000 for i in indices):
            _app.fail("--test_index: expected integers 0..9999 (the MNIST test set)", status=2)
        from mnist_tf.data import sources

        data = sources.load()
        digits += [(f"test_{i}", data.x_test[i], int(data.y_test[i])) for i in indices]
    for path in files:
        images, from_idx = preprocess.load_digits(path, FLAGS.threshold)
        stem = os.path.splitext(os.path.basename(path))[0]
        digits += [(f"{stem}_{i}" if from_idx else stem, image, None)
                   for i, image in enumerate(images)]
    return digits


def _load_model(path):
    if tf.saved_model.contains_saved_model(path):
        _app.fail(f"--model: {path} is a SavedModel; expected a run's logdir or checkpoint "
                  "(the backward needs the layers, which a SavedModel does not keep)", status=2)
    from mnist_tf.runs import saved_runs

    return saved_runs.load_model(path)[0]


def main(argv):
    files = argv[1:]
    if FLAGS.model is None:
        _app.fail("--model: pass a run's logdir or a checkpoint", status=2)
    if not files and not FLAGS.test_index:
        _app.fail("no digits: pass image files and/or --test_index=N,...", status=2)
    model = _load_model(FLAGS.model)
    digits = _digits(files)
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    explainer = explain.Explainer(model, FLAGS.ig_steps, FLAGS.smoothgrad_samples,
                                  FLAGS.smoothgrad_sigma)
    layers = passes.flat_layers(model)
    for name, image, label in digits:
        x = image[None, ..., None].astype(np.float32) / 255.0
        e = explainer(x, None if FLAGS.target is None else [FLAGS.target])
        png = os.path.join(FLAGS.out_dir, f"{name}.png")
        heading = f"{name}" + (f", label {label}" if label is not None else "")
        render.write_png(render.digit_sheet(e, 0, layers, heading), png)
        if FLAGS.json:
            record = {"name": name, **({"label": label} if label is not None else {}),
                      "png": png, **records.summary(e, 0), "maps": records.maps(e, 0)}
            print(json.dumps(record), flush=True)
        else:
            print(records.line(name, e, 0, png), flush=True)


if __name__ == "__main__":
    _app.run(main)
