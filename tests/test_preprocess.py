"""Image file → MNIST-style digit: synthetic shapes (fast), then real MNIST test digits as PNG."""

import os
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mnist_tf import preprocess
from mnist_tf.errors import DataError
from trained_model import PNG_DIGITS


def l_shape(height=100, width=80, top=10, left=40, ink=0, paper=255):
    """A thick, lopsided L (its mass is not at its box's centre), dark ink on light paper."""
    image = np.full((height, width), paper, np.uint8)
    image[top:top + 60, left:left + 8] = ink          # the upright
    image[top + 52:top + 60, left:left + 30] = ink    # the foot
    return image


def ink_box(digit):
    rows = np.flatnonzero(digit.any(axis=1))
    cols = np.flatnonzero(digit.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def write_png(path, image):
    """Gray [H, W], RGB or RGBA [H, W, C] uint8 as PNG (Pillow: a fraction of the cost of
    TensorFlow's eager encode and write, which counts over thousands of digits)."""
    Image.fromarray(np.asarray(image, np.uint8)).save(path, format="PNG")
    return path


def write_bmp(path, gray):
    """A 24-bit BMP by hand (TensorFlow decodes BMP but has no encoder)."""
    h, w = gray.shape
    row = (3 * w + 3) // 4 * 4
    pixels = np.zeros((h, row), np.uint8)
    pixels[:, :3 * w] = np.repeat(gray[::-1], 3, axis=1)  # bottom-up rows, BGR
    header = struct.pack("<2sIHHI", b"BM", 54 + pixels.size, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, pixels.size, 2835, 2835, 0, 0)
    with open(path, "wb") as f:
        f.write(header + info + pixels.tobytes())
    return path


# --- the geometry: centre of mass, 20x20 box, aspect ratio -------------------------------------

def test_center_of_mass_formula():
    p = np.random.default_rng(0).random((7, 5))
    rows, cols = np.indices(p.shape)
    expected = ((p * rows).sum() / p.sum(), (p * cols).sum() / p.sum())
    np.testing.assert_allclose(preprocess.center_of_mass(p), expected)


@pytest.mark.parametrize("top,left", [(10, 40), (35, 2), (0, 50)])
def test_centre_of_mass_lands_at_14_14(top, left):
    digit = preprocess.prepare(l_shape(top=top, left=left))
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    r_bar, c_bar = preprocess.center_of_mass(digit.astype(np.float64))
    assert abs(r_bar - preprocess.CENTER) <= 0.5 and abs(c_bar - preprocess.CENTER) <= 0.5


def test_mass_not_box_is_centred():
    # The L's mass sits low-left of its box, so its box must sit up-right of the field's centre.
    digit = preprocess.prepare(l_shape())
    rows = np.flatnonzero(digit.any(axis=1))
    cols = np.flatnonzero(digit.any(axis=0))
    assert (rows[0] + rows[-1]) / 2 < preprocess.CENTER - 1
    assert (cols[0] + cols[-1]) / 2 > preprocess.CENTER + 1


def test_digit_fits_20x20_keeping_aspect_ratio():
    tall = np.zeros((300, 200), np.uint8)
    tall[50:250, 80:140] = 255                      # 200 x 60: aspect 10:3
    h, w = ink_box(preprocess.prepare(tall))
    assert h == 20 and w == 6
    h, w = ink_box(preprocess.prepare(l_shape()))  # 60 x 30 → 20 x 10
    assert (h, w) == (20, 10)


def test_small_digits_are_enlarged_to_20():
    tiny = np.zeros((50, 50), np.uint8)
    tiny[20:25, 22:26] = 255
    assert max(ink_box(preprocess.prepare(tiny))) == 20


def test_lopsided_digit_is_not_cut_off():
    # A single-pixel-wide bar with a heavy blob at its top: the mass is near the top of the box.
    image = np.zeros((100, 100), np.uint8)
    image[10:90, 50] = 255
    image[10:20, 40:60] = 255
    digit = preprocess.prepare(image)
    h, _ = ink_box(digit)
    assert h == 20  # nothing lost off the bottom of the field


# --- ink: inversion, background removal, colour, transparency ----------------------------------

def test_light_paper_is_inverted_dark_paper_is_not():
    dark_on_light = l_shape(ink=0, paper=255)
    light_on_dark = l_shape(ink=255, paper=0)
    assert preprocess.border_median(dark_on_light / 255) == 1.0
    np.testing.assert_array_equal(preprocess.prepare(dark_on_light),
                                  preprocess.prepare(light_on_dark))
    assert preprocess.prepare(dark_on_light).max() == 255


def test_inversion_is_decided_by_the_border_not_the_majority():
    # Ink covers most of the image, but the border is light paper: still inverted.
    image = np.full((40, 40), 255, np.uint8)
    image[2:38, 2:38] = 0
    p = preprocess.ink(image / 255.0)
    assert p[20, 20] == 1.0 and p[0, 0] == 0.0


def test_grey_paper_and_faint_ink_are_stretched():
    image = l_shape(ink=120, paper=200).astype(np.float32) / 255
    p = preprocess.ink(image)
    assert p.min() == 0.0 and p.max() == pytest.approx(1.0)
    np.testing.assert_allclose(preprocess.prepare(l_shape(ink=120, paper=200)),
                               preprocess.prepare(l_shape()), atol=1)


def test_rgb_and_rgba_on_white_equal_gray():
    gray = l_shape()
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    rgba = np.zeros(gray.shape + (4,), np.uint8)  # black ink, transparent elsewhere
    rgba[..., 3] = 255 - gray
    expected = preprocess.prepare(gray)
    np.testing.assert_array_equal(preprocess.prepare(rgb), expected)
    np.testing.assert_array_equal(preprocess.prepare(rgba), expected)


def test_blank_image_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="blank"):
        preprocess.prepare(np.full((30, 30), 255, np.uint8))
    path = write_png(str(tmp_path / "blank.png"), np.zeros((30, 30), np.uint8))
    with pytest.raises(DataError, match="blank.png: no digit found"):
        preprocess.load_digits(path)


# --- files: formats and errors ------------------------------------------------------------------

def test_png_jpeg_and_bmp_files(tmp_path):
    gray = l_shape()
    expected = preprocess.prepare(gray)
    png = write_png(str(tmp_path / "l.png"), gray)
    bmp = write_bmp(str(tmp_path / "l.bmp"), gray)
    jpeg = str(tmp_path / "l.jpg")
    tf.io.write_file(jpeg, tf.io.encode_jpeg(gray[..., None], quality=95))
    for path in (png, bmp):
        images, from_idx = preprocess.load_digits(path)
        assert images.shape == (1, 28, 28) and not from_idx
        np.testing.assert_array_equal(images[0], expected)
    jpeg_digit = preprocess.load_digits(jpeg)[0][0].astype(int)
    assert np.abs(jpeg_digit - expected).mean() < 3  # JPEG is lossy


@pytest.mark.parametrize("name,content,message", [
    ("noise.png", np.random.default_rng(0).bytes(500), "noise.png: not an image"),
    ("notes.txt", b"seven\n", "notes.txt: not an image"),
    ("missing.png", None, "missing.png: no such file"),
])
def test_unreadable_files_are_one_line_errors(tmp_path, name, content, message):
    path = str(tmp_path / name)
    if content is not None:
        with open(path, "wb") as f:
            f.write(content)
    with pytest.raises(DataError, match=message) as error:
        preprocess.load_digits(path)
    assert "\n" not in str(error.value)


def test_a_directory_is_an_error(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        preprocess.load_digits(str(tmp_path))


# --- real MNIST test digits, written as PNG, classified by a briefly trained model --------------

def _variants(seed=0):
    """name → function(digits uint8 [N, 28, 28]) → the N images written to PNG."""

    def enlarged_off_centre(digits):
        rng = np.random.default_rng(seed)
        bigs = tf.image.resize(digits[..., None].astype(np.float32), (84, 84), method="bilinear")
        images = []
        for big in bigs.numpy():
            canvas = np.full((150, 200), 255, np.uint8)  # 200 wide, 150 high, light paper
            top, left = rng.integers(0, 150 - 84), rng.integers(0, 200 - 84)
            canvas[top:top + 84, left:left + 84] = 255 - np.clip(np.round(big[..., 0]), 0, 255)
            images.append(canvas)
        return images

    return {"white_background": lambda digits: 255 - digits,
            "black_background": lambda digits: np.repeat(digits[..., None], 3, axis=-1),  # RGB
            "enlarged_3x_off_centre": enlarged_off_centre}


@pytest.mark.slow
def test_mnist_digits_survive_preparation_unchanged(mnist):
    for digit in mnist.x_test[:200]:
        assert np.abs(preprocess.prepare(255 - digit).astype(int) - digit).mean() < 0.5


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(_variants()))
def test_test_digits_as_png_are_classified(trained_run, mnist, tmp_path, variant):
    index = np.random.default_rng(1).choice(len(mnist.x_test), PNG_DIGITS, replace=False)
    digits, labels = mnist.x_test[index], mnist.y_test[index]
    images = _variants()[variant](digits)
    prepared = np.stack([
        preprocess.load_digits(write_png(str(tmp_path / f"{i}.png"), image))[0][0]
        for i, image in enumerate(images)])
    accuracy = np.mean(trained_run.predictor(prepared).argmax(-1) == labels)
    raw = np.mean(trained_run.predictor(digits).argmax(-1) == labels)
    print(f"{variant}: accuracy {accuracy:.4f} on {len(digits)} PNGs (raw digits {raw:.4f})")
    assert accuracy >= 0.98, (variant, accuracy, raw)



@pytest.mark.parametrize("shape, fragment", [
    ((0, 28, 28), "no images"),
    ((65536,) * 4, "truncated"),  # 2**64 bytes: wrapped to 0 in int64, then a reshape crash
])
def test_bad_idx_images_are_one_line_errors(tmp_path, shape, fragment):
    import struct

    path = str(tmp_path / "x-idx3-ubyte")
    with open(path, "wb") as f:
        f.write(struct.pack(f">HBB{len(shape)}I", 0, 0x08, len(shape), *shape))
    with pytest.raises(DataError, match=f"{path}: .*{fragment}") as error:
        preprocess.load_digits(path)
    assert "\n" not in str(error.value)
