"""Pictures for TensorBoard's Images dashboard, drawn with numpy alone.

Each function returns a uint8 array ``[1, H, W, 3]`` (or ``[H, W, 1]`` grids)
ready for ``tf.summary.image``:

* :func:`digit_grid` — a batch of 28x28 digits tiled into one picture;
* :func:`filter_grid` — the first conv layer's 3x3 filters, each scaled to its
  own min..max, enlarged so a pixel of a filter is a visible block;
* :func:`labelled_digits` — misclassified digits, each with a header strip
  showing the predicted class in red and the true class in green;
* :func:`confusion_image` — the 10x10 confusion matrix as a heat map (rows =
  true class, columns = predicted), each cell carrying its count.

Numbers are written with a 3x5 pixel font (:data:`GLYPHS`), so no font file or
plotting library is needed.
"""

import numpy as np

# A 3x5 bitmap font for the digits: each glyph is five rows of three pixels.
GLYPHS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
}
RED = (230, 60, 60)
GREEN = (60, 200, 90)
WHITE = (255, 255, 255)


def draw_text(canvas: np.ndarray, text: str, top: int, left: int, color, scale: int = 1) -> None:
    """Draws digits ``text`` into ``canvas`` [H, W, 3] in place, one pixel of space between glyphs."""
    for position, char in enumerate(text):
        glyph = np.array([[c == "1" for c in row] for row in GLYPHS[char]])
        glyph = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        x = left + position * 4 * scale
        region = canvas[top:top + glyph.shape[0], x:x + glyph.shape[1]]
        region[glyph[:region.shape[0], :region.shape[1]]] = color


def _tile(images: np.ndarray, columns: int, pad: int = 1, fill: float = 0) -> np.ndarray:
    """Tiles ``images`` [N, h, w, c] into one [H, W, c] grid, ``columns`` wide."""
    n, h, w, c = images.shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), fill, images.dtype)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = image
    return grid


def digit_grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """[N, 28, 28, 1] floats in [0, 1] → one [1, H, W, 1] uint8 grid."""
    pixels = (np.clip(images, 0, 1) * 255).astype(np.uint8)
    return _tile(pixels, columns, fill=64)[None]


def filter_grid(kernel: np.ndarray, scale: int = 8) -> np.ndarray:
    """A conv kernel [kh, kw, 1, filters] → [1, H, W, 1] uint8, each filter to its own range."""
    filters = np.transpose(kernel[:, :, 0, :], (2, 0, 1))  # [filters, kh, kw]
    low = filters.min(axis=(1, 2), keepdims=True)
    high = filters.max(axis=(1, 2), keepdims=True)
    normalised = (filters - low) / np.maximum(high - low, 1e-12)
    enlarged = np.kron(normalised, np.ones((scale, scale)))[..., None]
    return _tile((enlarged * 255).astype(np.uint8), columns=8, pad=2, fill=128)[None]


def labelled_digits(images: np.ndarray, predicted, true, columns: int = 8,
                    scale: int = 2) -> np.ndarray:
    """Digits [N, 28, 28, 1] in [0, 1] with a header: predicted (red), true (green).

    Returns [1, H, W, 3] uint8, or None when there are no images.
    """
    if len(images) == 0:
        return None
    header = 6 * scale + 2
    tiles = np.zeros((len(images), 28 * scale + header, 28 * scale, 3), np.uint8)
    for tile, image, p, t in zip(tiles, images, predicted, true):
        pixels = (np.clip(image[..., 0], 0, 1) * 255).astype(np.uint8)
        tile[header:] = np.kron(pixels, np.ones((scale, scale), np.uint8))[..., None]
        draw_text(tile, str(int(p)), top=1, left=2, color=RED, scale=scale)
        draw_text(tile, str(int(t)), top=1, left=28 * scale - 3 * scale - 2, color=GREEN,
                  scale=scale)
    return _tile(tiles, columns, pad=2, fill=40)[None]


def confusion_image(matrix: np.ndarray, cell: int = 26) -> np.ndarray:
    """A [K, K] count matrix → a [1, H, W, 3] uint8 heat map with counts and class labels.

    Colour is the count relative to its row (so each true class reads as a
    distribution over predictions); the diagonal is drawn in blue, mistakes in
    orange, so errors stand out even when they are rare.
    """
    k = matrix.shape[0]
    margin = cell
    canvas = np.full((margin + k * cell, margin + k * cell, 3), 255, np.uint8)
    row_totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    share = np.sqrt(matrix / row_totals)  # sqrt lifts small error rates into view
    for i in range(k):
        draw_text(canvas, str(i), top=margin + i * cell + cell // 2 - 5, left=6,
                  color=(0, 0, 0), scale=2)  # true class, left margin
        draw_text(canvas, str(i), top=6, left=margin + i * cell + cell // 2 - 3,
                  color=(0, 0, 0), scale=2)  # predicted class, top margin
        for j in range(k):
            base = np.array((40, 90, 200) if i == j else (240, 130, 30), float)
            color = 255 - share[i, j] * (255 - base)
            top, left = margin + i * cell, margin + j * cell
            canvas[top + 1:top + cell, left + 1:left + cell] = color.astype(np.uint8)
            text = str(int(matrix[i, j]))
            ink = WHITE if share[i, j] > 0.6 else (0, 0, 0)
            draw_text(canvas, text, top=top + cell // 2 - 2,
                      left=left + (cell - 4 * len(text) + 1) // 2, color=ink)
    return canvas[None]
