"""Shared test set-up: tiny and real MNIST, a local file server, one briefly trained model.

Nothing here quiets TensorFlow: the suite passes whatever ``TF_CPP_MIN_LOG_LEVEL`` the caller
holds (the binaries are run without it, see ``binaries.child_env``). The one variable set here
is TensorFlow's number of threads inside an op, under pytest-xdist (below).
"""

import gc
import http.server
import os
import pathlib
import threading
from typing import NamedTuple

import numpy as np
import pytest

from mnist_tf import startup

# A pytest-xdist worker is a new process: TensorFlow imported as a binary imports it (startup.py).
startup.import_tensorflow()

from mnist_tf import devices  # noqa: E402
from mnist_tf.data import checksums, idx  # noqa: E402
from mnist_tf.errors import DataError  # noqa: E402

# One thread inside each op when pytest-xdist runs several workers: they share the machine's
# cores already, and TensorFlow's pool of one thread per core in every worker spent ~10% more
# CPU time waiting on the other worker's threads (3 test files, -n 2, 2 cores). Through the
# environment, read when TensorFlow starts its runtime (below), so that the binaries' processes
# the tests start compute with the same threads: a reduction split over another number of
# threads adds in another order, and the signal tests compare them with in-process runs bit
# for bit.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")  # unless the caller chose
# Two logical CPUs for the whole session: the MirroredStrategy tests then run in-process
# (one-device tests run on the first).
devices.split_cpu(2)


def one_line_error(fn, *fragments) -> str:
    """Calls ``fn()``, asserts a one-line DataError naming every fragment; returns its message."""
    with pytest.raises(DataError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert str(fragment) in message, (fragment, message)
    return message


class TinyMnist(NamedTuple):
    """A synthetic MNIST directory: the four canonical file names, tiny contents."""

    dir: pathlib.Path
    table: dict  # {name: Digests} of these files: pass it where real files need FILES
    arrays: idx.MnistArrays


def write_tiny_mnist(directory, n_train: int = 30, n_test: int = 12, seed: int = 0) -> TinyMnist:
    """Writes four small gzipped IDX files named as the real ones; returns them and their table."""
    rng = np.random.default_rng(seed)
    arrays = idx.MnistArrays(
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8))
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = (checksums.TRAIN_IMAGES, checksums.TRAIN_LABELS,
             checksums.TEST_IMAGES, checksums.TEST_LABELS)
    for name, array in zip(names, arrays):
        idx.write_idx(directory / name, array)
    table = {name: checksums.digests(directory / name) for name in names}
    return TinyMnist(directory, table, arrays)


@pytest.fixture
def tiny_mnist(tmp_path) -> TinyMnist:
    """A synthetic MNIST directory under ``tmp_path / "tiny"`` with its checksum table."""
    return write_tiny_mnist(tmp_path / "tiny")


class FileServer:
    """A local HTTP server for download tests: serves ``files``; ``drop``: paths cut mid-body."""

    def __init__(self):
        self.files, self.drop, self.requests = {}, set(), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append(name)
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in server.drop:  # promise the whole body, send half, hang up
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def file_server():
    """A :class:`FileServer` on 127.0.0.1 (a free port), shut down after the test."""
    server = FileServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def real_mnist_dir() -> pathlib.Path:
    """The real MNIST through the source chain into the default cache (filled once, then reused)."""
    from mnist_tf.data import sources

    return sources.fetch()


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST arrays (``MnistArrays``, uint8), loaded once per session."""
    import trained_model

    return trained_model.load_mnist()


@pytest.fixture(scope="session")
def small_mnist_env(tmp_path_factory, mnist) -> dict:
    """The environment in which a binary reads the first digits of the real MNIST
    (``training_helpers.SMALL``: 2,000 training, 1,000 test) as Keras's cache: for runs that
    need real digits but not all of them."""
    from mnist_tf.data import MnistArrays
    from training_helpers import SMALL, data_env

    (n_train, n_test), m = SMALL, mnist
    first = MnistArrays(m.x_train[:n_train], m.y_train[:n_train], m.x_test[:n_test],
                        m.y_test[:n_test])
    return data_env(tmp_path_factory.mktemp("small_mnist"), first)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, mnist):
    """The one trained reference CNN of the session: its logdir (checkpoints, config.json),
    SavedModel and a predictor. ``trained_model.CONFIG`` says how it is trained and why that
    is enough for the thresholds of every test that uses it (98% of PNG digits above all).
    Trained once for all the pytest-xdist workers of the session (their common temp dir)."""
    import trained_model

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return trained_model.shared(str(root), mnist)


def pytest_collection_finish(session):
    """Keras and the test modules, imported while collecting, kept out of the garbage
    collector's later passes too, as TensorFlow's import is (``startup.import_tensorflow``)."""
    gc.freeze()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    """The tests of the shared trained run go to one pytest-xdist worker (``--dist loadgroup``),
    which trains it while the other worker runs the rest."""
    for item in items:
        if "trained_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("trained_run"))


@pytest.fixture(scope="session")
def deployed(trained_run, tmp_path_factory):
    """A copy of ``trained_run`` exported as LiteRT float, LiteRT int8 and ONNX, each
    verified: {format: ``deployed_model.Exported``}."""
    import deployed_model

    return deployed_model.export_all(trained_run.logdir, str(tmp_path_factory.mktemp("deployed")))
