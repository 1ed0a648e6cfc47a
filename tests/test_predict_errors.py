"""bin/predict.py and bin/export.py on bad inputs, with a small untrained model (no training).

Each bad file is one error line naming it and the good files around it are still
classified; a model with non-finite weights is never exported, and one that answers
with non-finite probabilities is one error line, never "nan%".
"""

import struct

import numpy as np
import pytest
import tensorflow as tf

from binaries import assert_one_line_error, run_main
from mnist_tf import export, models
from mnist_tf.data import idx
from mnist_tf.errors import MnistTfError
from test_idx import write_gzip_bomb
from test_image_header import animated_webp_header, write_big_png


def small_model():
    return models.build(models.get("keras_example_cnn", seed=0))


def diverged_model():
    """The reference CNN with a NaN and an infinity in its last (dense) kernel."""
    model = small_model()
    kernel = model.layers[-1].kernel
    values = kernel.numpy()
    values[0, 0], values[1, 1] = np.nan, np.inf
    kernel.assign(values)
    return model, kernel.name


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export.export_saved_model(small_model(), str(tmp_path_factory.mktemp("m") / "export"))


def write_idx_header(path, shape):
    with open(path, "wb") as f:
        f.write(struct.pack(f">HBB{len(shape)}I", 0, 0x08, len(shape), *shape))
    return str(path)


def test_bad_files_fail_alone_whatever_their_kind(exported, tmp_path):
    digit = np.zeros((28, 28, 1), np.uint8)
    digit[6:22, 12:16] = 255
    good_png = str(tmp_path / "one.png")
    tf.io.write_file(good_png, tf.io.encode_png(digit))
    good_idx = str(tmp_path / "two-images-idx3-ubyte.gz")
    idx.write_idx(good_idx, np.stack([digit[..., 0]] * 2))
    bomb = str(tmp_path / "bomb-idx3-ubyte.gz")
    write_gzip_bomb(bomb, struct.pack(">IIII", 0x803, 1, 28, 28), 20 << 20)
    (tmp_path / "anim.webp").write_bytes(animated_webp_header())
    (tmp_path / "a.jxl").write_bytes(b"\xff\x0a" + bytes(30))
    bad = [
        (write_big_png(tmp_path / "huge.png", 7000, 7000), "49,000,000 pixels"),
        (write_idx_header(tmp_path / "overflow-idx", (65536,) * 4), "truncated"),
        (write_idx_header(tmp_path / "empty-idx3-ubyte", (0, 28, 28)), "no images"),
        (bomb, "trailing bytes"),
        (str(tmp_path / "anim.webp"), "animated WebP"),
        (str(tmp_path / "a.jxl"), "expected PNG, JPEG, GIF, BMP or still WebP"),
    ]
    result = run_main("predict", "--model", exported, good_png, *[b for b, _ in bad], good_idx)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(bad), result.stderr
    for line, (path, fragment) in zip(errors, bad):
        assert line.startswith(f"error: {path}: ") and fragment in line, line
    names = [line.split(": ")[0] for line in result.stdout.strip().splitlines()]
    assert names == [good_png, f"{good_idx}[0]", f"{good_idx}[1]"]


def test_predict_without_model_says_what_to_pass(tmp_path):
    assert_one_line_error(run_main("predict", str(tmp_path / "x.png")),
                          "--model: pass a SavedModel directory written by bin/export.py")


def test_non_finite_outputs_are_one_error_line_never_nan(tmp_path):
    model, _ = diverged_model()
    prefix = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    digit = str(tmp_path / "digit.png")
    tf.io.write_file(digit, tf.io.encode_png(np.full((28, 28, 1), 255, np.uint8) - np.eye(
        28, dtype=np.uint8)[..., None] * 255))
    result = run_main("predict", "--model", prefix, digit)
    assert_one_line_error(result, "the model's outputs are not finite",
                          "diverging learning rate")
    assert "nan" not in result.stdout.lower()


def test_export_refuses_non_finite_weights(tmp_path):
    model, name = diverged_model()
    with pytest.raises(MnistTfError, match=f"{name} holds 2 non-finite") as error:
        export.export_saved_model(model, str(tmp_path / "export"))
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary directory
    prefix = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    result = run_main("export", "--checkpoint_dir", prefix, "--export_dir",
                      str(tmp_path / "out"))
    assert_one_line_error(result, name, "non-finite")
    assert not (tmp_path / "out").exists()
