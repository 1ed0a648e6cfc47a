"""What ``bin/serve.py`` accepts: one bounded JSON request → an image and a class, or a 4xx.

A request body is a JSON object of depth 1::

    {"width": W, "height": H, "pixels": "<base64 of W·H uint8 grey levels, row-major>",
     "target": c}                         # c optional: 0..9, or null for the predicted class

Every bound is checked before the work it protects: the body's size
(:data:`MAX_BODY_BYTES`) before it is read, the nesting depth
(:data:`MAX_DEPTH`) before it is parsed, W·H (:data:`MAX_PIXELS`) before the
pixels are decoded. Anything else is a :class:`RequestError` carrying the HTTP
status and a one-line message. Nothing in a request names a file.
"""

import base64
import binascii
import json

import numpy as np

MAX_BODY_BYTES = 1 << 20       # 1 MiB: a 512×512 canvas is 350 KB of base64
MAX_PIXELS = 512 * 512
MAX_DEPTH = 2                  # {"pixels": ...} is depth 1; nothing here nests deeper
KEYS = {"width", "height", "pixels", "target"}


class RequestError(Exception):
    """A request refused: ``status`` (4xx) and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def json_depth(text: str) -> int:
    """The deepest nesting of [ and { in ``text``, outside strings (a linear scan, no parse)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _integer(request, name, low, high):
    value = request.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RequestError(400, f"{name}: expected an integer {low}..{high}, got {value!r:.40}")
    return value


def parse(body: bytes):
    """A request body → ``(image uint8 [H, W], target int or None)``; RequestError otherwise."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(413, f"body: {len(body):,} bytes, expected at most {MAX_BODY_BYTES:,}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "body: expected UTF-8 JSON") from None
    if json_depth(text) > MAX_DEPTH:
        raise RequestError(400, f"body: JSON nested deeper than {MAX_DEPTH} levels")
    try:
        request = json.loads(text)
    except ValueError as e:
        raise RequestError(400, f"body: not JSON ({str(e).splitlines()[0]:.80})") from None
    if not isinstance(request, dict):
        raise RequestError(400, "body: expected a JSON object {width, height, pixels}")
    unknown = set(request) - KEYS
    if unknown:
        raise RequestError(400, f"body: unknown keys {sorted(unknown)!r:.80}; expected "
                                f"{sorted(KEYS)}")
    width = _integer(request, "width", 1, MAX_PIXELS)
    height = _integer(request, "height", 1, MAX_PIXELS)
    if width * height > MAX_PIXELS:
        raise RequestError(413, f"pixels: {width}×{height} = {width * height:,}, expected at "
                                f"most {MAX_PIXELS:,}")
    target = request.get("target")
    if target is not None:
        target = _integer(request, "target", 0, 9)
    pixels = request.get("pixels")
    if not isinstance(pixels, str):
        raise RequestError(400, "pixels: expected a base64 string of width·height bytes")
    try:
        raw = base64.b64decode(pixels, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, "pixels: not valid base64") from None
    if len(raw) != width * height:
        raise RequestError(400, f"pixels: {len(raw):,} bytes, expected width·height = "
                                f"{width * height:,}")
    return np.frombuffer(raw, np.uint8).reshape(height, width), target
