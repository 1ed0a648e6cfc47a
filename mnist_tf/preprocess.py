"""An image file → a 28x28 digit prepared the way MNIST's digits were.

MNIST's digits (LeCun et al.) were size-normalised to fit a 20x20 box keeping
their aspect ratio, anti-aliased to grey levels, and centred in a 28x28 field
by their centre of mass. A photo or a drawing of a digit goes through the same
steps here, so that the network sees what it was trained on:

1. **Decode** with ``tf.io.read_file`` + ``tf.io.decode_image`` (PNG, JPEG, GIF's
   first frame, BMP, still WebP) to uint8 [H, W, C], after the header's size is
   checked: images over ``MAX_PIXELS`` (40 megapixels, frames included) are refused
   before anything is decoded.
2. **Grayscale** in [0, 1]: an alpha channel is composited on white paper,
   ``g ← a·g + (1 − a)``; colour becomes luma (``tf.image.rgb_to_grayscale``).
3. **Ink**: MNIST is light ink (1) on a dark field (0). The background is the
   median ``b`` of the border pixels; when ``b > 0.5`` the paper is light and the
   image is inverted, ``v ← 1 − v``. Then the background is taken away and the
   contrast stretched, ``p = clip((v − b') / (max v − b'), 0, 1)`` with ``b'`` the
   border median after inversion, so grey paper becomes 0 and the darkest
   stroke 1.
4. **Crop** to the bounding box of the pixels with ``p > threshold``. The
   default 0.05 keeps out faint noise yet keeps MNIST's own grey edge pixels:
   an MNIST digit comes out of all six steps as it went in, to 0.3/255 per
   pixel on average (a larger threshold shrinks the box and rescales the digit). Raise it
   for noisy photos.
5. **Scale** the box so its longer side is 20 pixels, keeping the aspect ratio
   (``tf.image.resize`` with ``antialias=True``: area-averaging when shrinking,
   which is what makes grey edge pixels as in MNIST).
6. **Centre** by the centre of mass. For pixel values ``p[r, c]``::

       (r̄, c̄) = Σ p[r, c]·(r, c) / Σ p[r, c]

   with (r, c) pixel indices (row 0 at the top). The 20x20-or-smaller patch is
   placed in the 28x28 field with its top-left corner at
   ``round((CENTER, CENTER) − (r̄, c̄))``, so the mass lands within half a pixel of
   ``(CENTER, CENTER)``. ``CENTER = 14`` is MNIST's own convention: measured on
   its 60,000 training digits the centre of mass is (14.00, 14.01) on average
   and 90% lie within (13.55..14.45) on each axis, i.e. MNIST too shifted by
   whole pixels towards index 14 (the geometric centre 13.5 is half a pixel
   up-left of it). A
   placement that would cut ink off the field is moved just enough to keep it
   all (lopsided digits only; the centre of mass then lands off by that much).

The result is uint8 [28, 28], 0 = background, 255 = ink: the dtype and layout
of the MNIST arrays, so a prepared image goes through the same ``x / 255`` as
the training data.

:func:`load_digits` also takes IDX image files (raw or gzipped), recognised by
their magic number rather than their name: their digits are MNIST's format
already and are returned as they are.
"""

import gzip
import os

import numpy as np
import tensorflow as tf

from mnist_tf import image_header
from mnist_tf.errors import DataError, first_line

SIZE = 28
BOX = 20
CENTER = 14.0
THRESHOLD = 0.05
MAX_PIXELS = 40_000_000  # width x height (x frames): larger images are refused before decoding
FORMATS_TEXT = ", ".join(image_header.FORMATS[:-1]) + f" or still {image_header.FORMATS[-1]}"
IDX_TYPES = (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)  # uint8, int8, int16, int32, float32, float64


def read_image(path: str) -> np.ndarray:
    """Decodes an image file to uint8 [H, W, C] (C = 1, 2, 3 or 4); GIF: its first frame.

    The header is read first (:mod:`mnist_tf.image_header`): only the formats of
    :data:`FORMATS` are decoded, and only up to :data:`MAX_PIXELS`.

    Raises:
      DataError: the file is missing, not one of :data:`FORMATS`, larger than
        :data:`MAX_PIXELS`, or not decodable.
    """
    try:
        size = image_header.read(path)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    if size is None:
        raise DataError(f"{path}: not an image file this program reads (expected "
                        f"{FORMATS_TEXT})")
    if size.pixels > MAX_PIXELS:
        frames = f" x {size.frames} frames" if size.frames > 1 else ""
        raise DataError(f"{path}: {size.format} of {size.width}x{size.height}{frames} = "
                        f"{size.pixels:,} pixels, over the limit of {MAX_PIXELS:,}: scale it "
                        f"down (a digit needs only 28x28)")
    try:
        data = tf.io.read_file(path)
        image = tf.io.decode_image(data, expand_animations=False, dtype=tf.uint8)
    except tf.errors.OpError as e:
        raise DataError(f"{path}: not an image TensorFlow can decode ({first_line(e)})") from None
    return image.numpy()


def to_grayscale(image) -> np.ndarray:
    """uint8 [H, W, C] → float32 [H, W] in [0, 1]; transparency is composited on white."""
    image = tf.image.convert_image_dtype(tf.convert_to_tensor(image), tf.float32)
    channels = image.shape[-1]
    if channels in (2, 4):  # gray+alpha or RGBA: paper shows through where alpha < 1
        color, alpha = image[..., :-1], image[..., -1:]
        image = alpha * color + (1.0 - alpha)
    if image.shape[-1] == 3:
        image = tf.image.rgb_to_grayscale(image)
    return image.numpy()[..., 0]


def border_median(gray: np.ndarray) -> float:
    """The median of the outermost ring of pixels: the paper's brightness."""
    ring = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    return float(np.median(ring))


def ink(gray: np.ndarray) -> np.ndarray:
    """float32 [H, W] in [0, 1] → ink intensity, background 0, strongest stroke 1 (step 3)."""
    if border_median(gray) > 0.5:  # light paper, dark ink: invert to MNIST's light-on-dark
        gray = 1.0 - gray
    background = border_median(gray)
    span = float(gray.max()) - background
    if span <= 0:
        return np.zeros_like(gray)
    return np.clip((gray - background) / span, 0.0, 1.0).astype(np.float32)


def bounding_box(p: np.ndarray, threshold: float = THRESHOLD):
    """(top, bottom, left, right), end-exclusive, of the pixels above ``threshold``; None if none."""
    rows = np.flatnonzero((p > threshold).any(axis=1))
    cols = np.flatnonzero((p > threshold).any(axis=0))
    if not len(rows):
        return None
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def center_of_mass(p: np.ndarray):
    """(r̄, c̄) = Σ p·(r, c) / Σ p, in pixel indices."""
    rows, cols = np.indices(p.shape)
    total = p.sum()
    return float((p * rows).sum() / total), float((p * cols).sum() / total)


def fit_box(p: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scales [h, w] so that max(h, w) = ``box``, keeping the aspect ratio (step 5)."""
    h, w = p.shape
    scale = box / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    resized = tf.image.resize(p[..., None], size, method="bilinear", antialias=True)
    return np.clip(resized.numpy()[..., 0], 0.0, 1.0)


def center_in_field(patch: np.ndarray, size: int = SIZE, center: float = CENTER) -> np.ndarray:
    """Places ``patch`` in a [size, size] field with its centre of mass at (center, center)."""
    h, w = patch.shape
    r_bar, c_bar = center_of_mass(patch)
    top = min(max(int(round(center - r_bar)), 0), size - h)
    left = min(max(int(round(center - c_bar)), 0), size - w)
    field = np.zeros((size, size), np.float32)
    field[top:top + h, left:left + w] = patch
    return field


def prepare(image, threshold: float = THRESHOLD) -> np.ndarray:
    """A decoded image, uint8 [H, W, C] or [H, W], → an MNIST-style digit, uint8 [28, 28].

    Raises:
      ValueError: no ink above ``threshold`` (a blank image).
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    p = ink(to_grayscale(image))
    box = bounding_box(p, threshold)
    if box is None:
        raise ValueError("no digit found: the image is blank")
    top, bottom, left, right = box
    field = center_in_field(fit_box(p[top:bottom, left:right]))
    return np.round(field * 255.0).astype(np.uint8)


def prepare_file(path: str, threshold: float = THRESHOLD) -> np.ndarray:
    """:func:`read_image` then :func:`prepare`; errors are one-line ``DataError``s naming ``path``."""
    image = read_image(path)
    try:
        return prepare(image, threshold)
    except ValueError as e:
        raise DataError(f"{path}: {e}") from None


def _is_idx(path: str) -> bool:
    """True when the file starts with an IDX magic number (0, 0, type, ndim), gzipped or not."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":  # gzip
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(4)
        except (OSError, EOFError):
            return False
    return len(head) == 4 and head[:2] == b"\0\0" and head[2] in IDX_TYPES and head[3] >= 1


def load_digits(path: str, threshold: float = THRESHOLD):
    """The digits in a file: ``(images uint8 [N, 28, 28], from_idx)``.

    An image file gives one prepared digit (N = 1); an IDX images file gives
    all of its digits as stored.

    Raises:
      DataError: (one line naming ``path``) missing, unreadable, not an image,
        over :data:`MAX_PIXELS`, blank, an IDX labels file, IDX images that are not
        uint8 28x28, or none.
    """
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, not an image file")
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if not _is_idx(path):
        return prepare_file(path, threshold)[None], False
    from mnist_tf.data import idx

    array = np.asarray(idx.read_idx(path))
    if array.ndim == 1:
        raise DataError(f"{path}: an IDX labels file ({len(array):,} labels), not images")
    if array.ndim != 3 or array.shape[1:] != (SIZE, SIZE) or array.dtype != np.uint8:
        raise DataError(f"{path}: IDX {array.dtype} {list(array.shape)}: expected uint8 "
                        f"images [N, {SIZE}, {SIZE}]")
    if not len(array):
        raise DataError(f"{path}: an IDX images file with no images (expected at least one)")
    return array, True
