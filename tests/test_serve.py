"""bin/serve.py's page: real requests to the app, bad input, a burst, a real browser, the process.

The app serves the session's trained run (conftest ``trained_run``) from a thread;
one test starts ``bin/serve.py`` itself, for what only a process shows (its
127.0.0.1 bind, its exit on SIGINT). The browser is Debian's Chromium driven by
Playwright (``.ci/run`` installs it); set ``MNIST_TF_SCREENSHOTS=docs/images`` to
write the README's screenshots there.
"""

import base64
import concurrent.futures
import json
import os
import signal
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from werkzeug.serving import make_server

import binaries
from mnist_tf import preprocess
from mnist_tf.explain import explain, panels, requests
from mnist_tf.explain.server import ExplainApp

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def served(trained_run):
    """(url, app): the explain app of the trained run on a free port, in a thread."""
    from mnist_tf.runs import saved_runs

    app = ExplainApp(saved_runs.load_model(trained_run.logdir)[0])
    app.warm_up()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", app
    server.shutdown()
    server.server_close()


def _stroke_image(strokes, size=280, width=18):
    """A drawing like the page's: white strokes (lists of points) on black, uint8 [size, size]."""
    image = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    for points in strokes:
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            for t in np.linspace(0, 1, 40):
                x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                image[(xx - x) ** 2 + (yy - y) ** 2 <= (width / 2) ** 2] = 255
    return image


ONE = [[(140, 40), (140, 240)]]
SEVEN = [[(70, 50), (210, 50), (120, 240)]]


def _body(image, target=None):
    return json.dumps({"width": image.shape[1], "height": image.shape[0], "target": target,
                       "pixels": base64.b64encode(image.tobytes()).decode()}).encode()


def _post(url, body, headers=None):
    request = urllib.request.Request(url + "/api/explain", data=body, method="POST",
                                     headers=headers or {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_an_explain_request_answers_what_the_library_computes(served):
    url, app = served
    image = _stroke_image(SEVEN)
    status, answer = _post(url, _body(image, target=1))
    assert status == 200, answer
    x = preprocess.prepare(image)[None, ..., None].astype(np.float32) / 255.0
    expected = explain(app.model, x, [1])  # eager; the app's is compiled
    assert answer["target"] == 1 and answer["digit"] == expected.digit(0) == 7
    np.testing.assert_allclose(answer["probabilities"], expected.probabilities[0], atol=1e-6)
    compiled = app.explainer(x, [1])
    np.testing.assert_allclose(compiled.gradient_times_input, x[..., 0] * compiled.saliency)
    for field in ("saliency", "smoothgrad", "integrated_gradients", "grad_cam_28"):
        np.testing.assert_allclose(getattr(compiled, field), getattr(expected, field),
                                   rtol=1e-4, atol=1e-6, err_msg=field)
    layers = [layer["name"] for layer in answer["layers"]]
    assert layers == expected.names
    titles = [p["title"] for p in answer["panels"]]
    assert len(titles) == 7 + 2 * len(layers) and f"δ {layers[0]}" in titles
    for panel in answer["panels"]:
        assert panel["png"].startswith("data:image/png;base64,iVBOR")
        assert panel["source"] in app.sources, panel["source"]


BAD = [
    (b"{", 400, "not JSON"),
    (b"\xff\xfe", 400, "UTF-8"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"width": [[[[1]]]]}', 400, "nested deeper"),
    (b'{"width": 28, "height": 28, "pixels": "", "path": "/etc/passwd"}', 400, "unknown keys"),
    (b'{"width": 28.5, "height": 28, "pixels": ""}', 400, "width: expected an integer"),
    (b'{"width": 4000, "height": 4000, "pixels": ""}', 413, "at most 262,144"),
    (b'{"width": 28, "height": 28, "pixels": "%%%"}', 400, "base64"),
    (b'{"width": 28, "height": 28, "pixels": "AAAA"}', 400, "expected width"),
    (_body(np.zeros((28, 28), np.uint8)), 422, "blank"),
    (_body(_stroke_image(ONE, size=28, width=3), target=10), 400, "target: expected"),
]


def test_bad_requests_get_a_one_line_json_error_and_the_server_goes_on(served):
    url, _ = served
    for body, status, fragment in BAD:
        got, text = _post(url, body)
        assert got == status, (body[:60], got, text)
        assert "\n" not in text and fragment in json.loads(text)["error"], (fragment, text)
    big = b"{" + b" " * (requests.MAX_BODY_BYTES + 1) + b"}"
    assert _post(url, big)[0] == 413
    for path, status in [("/api/explain", 405), ("/source/../../../etc/passwd", 404),
                         ("/source/" + os.path.join(binaries.ROOT, "setup.cfg"), 404),
                         ("/nothing", 404)]:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url + path, timeout=10)
        assert info.value.code == status, path
        assert "error" in json.loads(info.value.read())
    with urllib.request.urlopen(url + "/source/mnist_tf/backprop/conv.py", timeout=10) as r:
        assert "def conv2d" in r.read().decode()
    assert _post(url, _body(_stroke_image(ONE)))[0] == 200


def _rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_a_burst_of_50_concurrent_requests_is_served_with_flat_memory(served):
    url, _ = served
    one, seven = _body(_stroke_image(ONE)), _body(_stroke_image(SEVEN))
    bodies = [seven if i % 2 else one for i in range(50)]

    def burst(n):
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda b: _post(url, b), bodies[:n]))

    burst(6)  # warm: buffers, threads
    before = _rss_mb()
    results = burst(50)
    grown = _rss_mb() - before
    assert [status for status, _ in results] == [200] * 50
    assert [answer["digit"] for _, answer in results] == [7 if i % 2 else 1 for i in range(50)]
    assert grown < 60, f"RSS grew {grown:.0f} MB over the burst"


def _draw(page, strokes):
    box = page.locator("#pad").bounding_box()
    for points in strokes:
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
        page.mouse.up()


def test_a_drawn_1_and_7_in_chromium(served, tmp_path):
    from playwright.sync_api import sync_playwright

    url, _ = served
    shots = os.environ.get("MNIST_TF_SCREENSHOTS") or str(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        for name, strokes, digit in (("one", ONE, "1"), ("seven", SEVEN, "7")):
            page.click("#clear")
            _draw(page, strokes)
            page.wait_for_function("document.querySelectorAll('figure.panel').length > 0 && "
                                   "document.getElementById('status').textContent"
                                   ".startsWith('answered')", timeout=30_000)
            assert page.inner_text("#digit") == digit
            assert page.inner_text("#error") == ""
            sizes = page.eval_on_selector_all(
                "figure.panel img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert len(sizes) == 7 + 2 * 7 and min(sizes) > 0, sizes
            assert page.eval_on_selector("#input", "i => i.naturalWidth") == 28 * 3
            assert page.locator(".bar").count() == 10
            page.screenshot(path=os.path.join(shots, f"serve_{name}.png"), full_page=True)
        page.click(".bar[data-class='3']")  # explain another class
        page.wait_for_function("document.getElementById('target').textContent === '3'")
        link = page.locator("figure.panel a").first.get_attribute("href")
        assert link == "/source/" + panels.INPUT[2]
        browser.close()
    with open(os.path.join(shots, "serve_seven.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_process_binds_127_0_0_1_and_stops_cleanly_on_sigint(trained_run):
    process = binaries.start_binary("serve", f"--model={trained_run.logdir}", "--port=0")
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("serving "):
                break
        url = lines[-1].split()[1].rstrip("/")
        assert url.startswith("http://127.0.0.1:"), lines
        with urllib.request.urlopen(url + "/", timeout=30) as response:
            assert "<canvas" in response.read().decode()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
