"""The explain page's web application (WSGI, werkzeug): draw a digit, see both passes.

Routes (nothing else; no route reads a path from the request):

``GET /``
  ``page.html``: a canvas to draw on, and the panels (plain HTML/JS).
``POST /api/explain``
  a body as ``requests`` describes → JSON ``{"digit", "target", "probabilities",
  "completeness_error", "layers", "panels": [{"row", "title", "formula", "source",
  "png"}], "milliseconds"}``. The drawing goes through ``preprocess.prepare``
  (what ``bin/predict.py`` does to a file), then ``Explainer`` (forward, every δ,
  the five attributions) and ``render.digit_panels``; each panel's picture is a
  PNG data URL.
``GET /source/<file>``
  the text of one of the source files the panels name (``panels.sources()``),
  read once when the app is made: a name not in that list is a 404.

Errors are a 4xx (or 500) with one JSON line ``{"error": "..."}``. At most
``concurrency`` explanations run at a time (the others wait their turn), so a
burst of requests costs time, not memory.
"""

import base64
import json
import os
import threading
import time

import numpy as np
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from mnist_tf import preprocess
from mnist_tf.explain import panels, passes, records, render, requests
from mnist_tf.explain.explanation import Explainer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page.html")
ROW_NAMES = ("input and attributions", "forward: each layer's output y",
             "backward: δ = ∂z_c/∂y per layer")


def _json(value, status=200) -> Response:
    return Response(json.dumps(value), status=status, mimetype="application/json")


def _error(status, message) -> Response:
    return _json({"error": message}, status)


def _data_url(rgb) -> str:
    from PIL import Image

    return "data:image/png;base64," + base64.b64encode(
        render.png_bytes(Image.fromarray(np.asarray(rgb, np.uint8)))).decode("ascii")


def _read_sources() -> dict:
    found = {}
    for name in panels.sources():
        path = os.path.join(ROOT, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                found[name] = f.read()
    return found


class ExplainApp:
    """The WSGI application for one trained model."""

    def __init__(self, model, concurrency: int = 2, threshold: float = preprocess.THRESHOLD):
        self.model, self.threshold = model, threshold
        self.explainer = Explainer(model)
        self.layers = passes.flat_layers(model)
        self.slots = threading.BoundedSemaphore(concurrency)
        with open(PAGE, encoding="utf-8") as f:
            self.page = f.read()
        self.sources = _read_sources()

    def warm_up(self) -> None:
        """Traces the explain graph once, so the first drawing is answered as fast as the next."""
        self.explainer(np.zeros([1, 28, 28, 1], np.float32))

    def explain(self, image, target) -> dict:
        """A drawing uint8 [H, W] (and a class or None) → the response's JSON object."""
        start = time.perf_counter()
        try:
            digit = preprocess.prepare(image, self.threshold)
        except ValueError as e:
            raise requests.RequestError(422, f"pixels: {e}") from None
        x = digit[None, ..., None].astype(np.float32) / 255.0
        with self.slots:
            e = self.explainer(x, None if target is None else [target])
        rows = render.digit_panels(e, 0, self.layers)
        out = records.summary(e, 0)
        out["panels"] = [{"row": ROW_NAMES[r], "title": title, "formula": formula,
                          "source": source, "png": _data_url(rgb)}
                         for r, row in enumerate(rows) for title, formula, rgb, source in row]
        out["milliseconds"] = round(1000 * (time.perf_counter() - start), 1)
        return out

    def route(self, request: Request) -> Response:
        if request.path == "/":
            if request.method != "GET":
                return _error(405, f"{request.method} /: expected GET")
            return Response(self.page, mimetype="text/html")
        if request.path == "/api/explain":
            if request.method != "POST":
                return _error(405, f"{request.method} /api/explain: expected POST")
            length = request.content_length
            if length is None:
                return _error(411, "body: a Content-Length header is required")
            if length > requests.MAX_BODY_BYTES:
                return _error(413, f"body: {length:,} bytes, expected at most "
                                   f"{requests.MAX_BODY_BYTES:,}")
            try:
                image, target = requests.parse(request.get_data(cache=False))
                return _json(self.explain(image, target))
            except requests.RequestError as e:
                return _error(e.status, e.message)
        if request.path.startswith("/source/"):
            text = self.sources.get(request.path[len("/source/"):])
            if text is None:
                return _error(404, f"{request.path}: not a source file of the panels")
            return Response(text, mimetype="text/plain; charset=utf-8")
        return _error(404, f"{request.path}: no such page (try /)")

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.route(request)
        except HTTPException as e:
            response = _error(e.code or 400, e.description or e.name)
        except Exception as e:  # a bug: one line, and the server goes on serving
            response = _error(500, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
                              if str(e) else type(e).__name__)
        return response(environ, start_response)
