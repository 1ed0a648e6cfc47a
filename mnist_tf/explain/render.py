"""The pictures of an :class:`~mnist_tf.explain.Explanation`: colour maps, tiles, a PNG sheet.

Colour maps (arrays → uint8 RGB [H, W, 3]):

* :func:`gray`: activations, v/max(v) (ReLU outputs are ≥ 0), black = 0;
* :func:`diverging`: signed maps (δ, attributions), v/max|v| to blue (−) · white (0) · red (+),
  so 0 is always white and the two signs are on the same scale;
* :func:`overlay`: Grad-CAM's map in red over the grey digit.

:func:`sheet` lays out one digit's panels — input, probabilities, the five
attributions; each layer's activations; each layer's δ — each titled with its
formula (``panels``), and :func:`write_png` writes it atomically. Text uses
DejaVu Sans when the system has it (its glyphs cover ∂, δ, Σ, ⊙), else
Pillow's built-in font with the formulas spelled in ASCII.
"""

import io
import os
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mnist_tf.explain import panels

FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
              "/usr/share/fonts/dejavu/DejaVuSans.ttf",
              "/usr/share/fonts/TTF/DejaVuSans.ttf")
ASCII = {"∂": "d", "δ": "d", "Σ": "sum", "⊙": "*", "⊛": "*", "×": "x", "·": "*", "γ": "g",
         "μ": "mu", "σ": "s", "ε": "e", "α": "a", "√": "sqrt", "²": "^2", "−": "-", "→": "->"}
BACKGROUND = (255, 255, 255)
SCALE = 3  # screen pixels per map pixel for 28×28-sized panels


def _font(size):
    for path in FONT_PATHS:
        if os.path.exists(path):
            return ImageFont.truetype(path, size), True
    return ImageFont.load_default(size), False


FONT, UNICODE = _font(12)


def _text(s: str) -> str:
    if UNICODE:
        return s
    return "".join(ASCII.get(ch, ch if ord(ch) < 128 else "?") for ch in s)


def gray(values) -> np.ndarray:
    """[H, W] ≥ 0 → RGB, v / max v (all-zero → black)."""
    v = np.asarray(values, np.float64)
    top = np.nanmax(v) if np.isfinite(v).any() else 0
    g = np.nan_to_num(v / top if top > 0 else np.zeros_like(v)).clip(0, 1)
    return np.repeat((g * 255).round().astype(np.uint8)[..., None], 3, axis=-1)


def diverging(values) -> np.ndarray:
    """[H, W] signed → RGB: −max|v| blue, 0 white, +max|v| red."""
    v = np.nan_to_num(np.asarray(values, np.float64))
    top = np.abs(v).max()
    s = v / top if top > 0 else v
    rgb = np.ones(v.shape + (3,))
    pos, neg = s.clip(0, 1), (-s).clip(0, 1)
    rgb[..., 1] -= pos + neg
    rgb[..., 2] -= pos
    rgb[..., 0] -= neg
    return (rgb.clip(0, 1) * 255).round().astype(np.uint8)


def overlay(digit, heat) -> np.ndarray:
    """Grad-CAM ``heat`` [28, 28] (≥ 0) in red over the grey ``digit`` [28, 28] in [0, 1]."""
    base = np.asarray(digit, np.float64)[..., None] * 0.6
    top = np.max(heat)
    h = (np.asarray(heat, np.float64) / top if top > 0 else np.zeros_like(heat))[..., None]
    rgb = base * (1 - h) + h * np.array([1.0, 0.15, 0.1])
    return (rgb.clip(0, 1) * 255).round().astype(np.uint8)


def tile(maps, columns=None) -> np.ndarray:
    """Feature maps [h, w, K] → one [H, W] grid (NaN between tiles); a vector [n] → a square-ish
    [⌈n/r⌉, r] image (row-major, r = ⌈√n⌉)."""
    maps = np.asarray(maps, np.float64)
    if maps.ndim == 1:
        r = maps.size if maps.size <= 16 else int(np.ceil(np.sqrt(maps.size)))
        padded = np.full(r * int(np.ceil(maps.size / r)), np.nan)
        padded[:maps.size] = maps
        return padded.reshape(-1, r)
    h, w, k = maps.shape
    columns = columns or 2 ** int(np.ceil(np.log2(np.sqrt(k))))  # 32, 64 maps: 8 wide
    rows = -(-k // columns)
    grid = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), np.nan)
    for i in range(k):
        r, c = divmod(i, columns)
        grid[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = maps[..., i]
    return grid


def _colour(values, cmap) -> np.ndarray:
    rgb = cmap(values)
    rgb[np.isnan(np.asarray(values, np.float64))] = (200, 200, 200)
    return rgb


def enlarge(rgb, scale) -> np.ndarray:
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def bars(probabilities, highlight=None, width=10 * 24, height=28 * SCALE) -> np.ndarray:
    """Ten vertical bars (probability of each digit), ``highlight`` (the class c) in red."""
    p = np.asarray(probabilities, np.float64)
    image = np.full((height, width, 3), 255, np.uint8)
    step = width // len(p)
    for k, value in enumerate(p):
        top = int(round((1 - value) * (height - 1)))
        colour = (220, 50, 40) if k == highlight else (70, 110, 190)
        image[top:, k * step + 3:(k + 1) * step - 3] = colour
    return image


def _panel_image(values, cmap, target_height=2 * 28 * SCALE):
    grid = values if values.ndim == 2 else tile(values)
    scale = max(1, min(int(target_height // grid.shape[0]), 240 // grid.shape[1]))
    return enlarge(_colour(grid, cmap), scale)


def digit_panels(explanation, b: int, layers) -> list:
    """One digit's panels as rows of (title, formula, RGB array, source file): the input,
    the probabilities and the five attributions; each layer's output; each layer's δ."""
    e, c = explanation, int(explanation.target[b])
    first = [(panels.INPUT[0], panels.INPUT[1], enlarge(gray(e.images[b]), SCALE),
              panels.INPUT[2]),
             (f"{panels.PROBABILITIES[0]}: {e.digit(b)}", panels.PROBABILITIES[1],
              bars(e.probabilities[b], c), panels.PROBABILITIES[2])]
    for key, (title, formula, source) in panels.ATTRIBUTIONS.items():
        values = getattr(e, key)[b]
        image = (overlay(e.images[b], values) if key == "grad_cam_28" else diverging(values))
        first.append((f"{title} (c = {c})", formula, enlarge(image, SCALE), source))
    forward, backward = [], []
    for name, layer, output, delta in zip(e.names, layers, e.outputs, e.deltas):
        formula, forward_file, backward_file = panels.layer_panel(layer)
        signed = name == e.names[-1] or not np.all(output[b] >= 0)
        forward.append((name, formula, _panel_image(output[b], diverging if signed else gray),
                        forward_file))
        backward.append((f"δ {name}", panels.DELTA, _panel_image(delta[b], diverging),
                         backward_file))
    return [first, forward, backward]


def sheet(rows, heading: str = "") -> Image.Image:
    """Panels (rows of (title, formula, RGB, ...)) laid out left to right, titles above each."""
    pad, line = 10, FONT.size + 4
    top = (line + pad) if heading else pad
    sizes = []
    for row in rows:
        width = 0
        for title, formula, image, *_ in row:
            text_w = max(FONT.getlength(_text(title)), FONT.getlength(_text(formula)))
            width += max(image.shape[1], int(text_w)) + pad
        sizes.append((width + pad, max(panel[2].shape[0] for panel in row) + 2 * line + pad))
    canvas = Image.new("RGB", (max(w for w, _ in sizes), top + sum(h for _, h in sizes)),
                       BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if heading:
        draw.text((pad, pad), _text(heading), fill=(0, 0, 0), font=FONT)
    y = top
    for row, (_, height) in zip(rows, sizes):
        x = pad
        for title, formula, image, *_ in row:
            draw.text((x, y), _text(title), fill=(0, 0, 0), font=FONT)
            draw.text((x, y + line), _text(formula), fill=(90, 90, 90), font=FONT)
            canvas.paste(Image.fromarray(image), (x, y + 2 * line))
            text_w = max(FONT.getlength(_text(title)), FONT.getlength(_text(formula)))
            x += max(image.shape[1], int(text_w)) + pad
        y += height
    return canvas


def digit_sheet(explanation, b: int, layers, heading: str = "") -> Image.Image:
    """:func:`sheet` of :func:`digit_panels`."""
    return sheet(digit_panels(explanation, b, layers), heading)


def write_png(image: Image.Image, path: str) -> None:
    """Writes ``image`` as PNG atomically (a temporary file beside ``path``, then renamed)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".explain-", suffix=".png", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def png_bytes(image: Image.Image, compress_level: int = 1) -> bytes:
    """The PNG file of ``image``; level 1 of zlib's 9: a fifth of the time of the default 6,
    for files a few percent larger (the server encodes 21 panels per request)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
