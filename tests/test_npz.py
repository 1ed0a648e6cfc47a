"""Keras's mnist.npz: round trip; a one-line DataError naming the file per bad input, within bounds."""

import io
import zipfile

import numpy as np
import pytest
from conftest import one_line_error
from test_idx import bounded, images, labels

from mnist_tf.data import idx, npz


def npz_arrays(**changes):
    arrays = dict(x_train=images(6), y_train=labels(6), x_test=images(2, 1), y_test=labels(2, 1))
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def test_read_npz(tmp_path):
    arrays = npz_arrays()
    np.savez(tmp_path / "mnist.npz", **arrays)
    got = npz.read_npz(tmp_path / "mnist.npz")
    assert isinstance(got, idx.MnistArrays)
    for key, value in arrays.items():
        np.testing.assert_array_equal(getattr(got, key), value)


@pytest.mark.parametrize("changes, fragment", [
    (dict(y_test=None), "y_test"),
    (dict(x_train=images(6).astype(np.float32)), "x_train"),
    (dict(y_train=labels(5)), "y_train"),
    (dict(x_test=np.zeros((2, 28), np.uint8)), "x_test"),
])
def test_read_npz_bad_arrays(tmp_path, changes, fragment):
    np.savez(tmp_path / "mnist.npz", **npz_arrays(**changes))
    one_line_error(lambda: npz.read_npz(tmp_path / "mnist.npz"), tmp_path / "mnist.npz", fragment)


def test_read_npz_refuses_pickles(tmp_path):
    np.savez(tmp_path / "mnist.npz", **npz_arrays(y_train=np.array([object()] * 6)))
    one_line_error(lambda: npz.read_npz(tmp_path / "mnist.npz"), tmp_path / "mnist.npz")


def test_read_npz_not_a_zip(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"not a zip at all")
    one_line_error(lambda: npz.read_npz(tmp_path / "mnist.npz"), tmp_path / "mnist.npz")


def npy_bytes(shape, dtype="|u1", data=b"") -> bytes:
    """A ``.npy`` file whose header says ``shape`` and ``dtype``, followed by ``data``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue() + data


def write_npz(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for key, data in members.items():
            archive.writestr(f"{key}.npy", data)


def good_members():
    members = {}
    for key, value in npz_arrays().items():
        buffer = io.BytesIO()
        np.save(buffer, value)
        members[key] = buffer.getvalue()
    return members


def test_read_npz_plain_npy_renamed(tmp_path):
    np.save(tmp_path / "x.npy", images(3))
    (tmp_path / "x.npy").rename(tmp_path / "mnist.npz")
    one_line_error(lambda: npz.read_npz(tmp_path / "mnist.npz"), tmp_path / "mnist.npz", "npz")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_read_npz_header_claiming_1e11_images(tmp_path, compression):
    members = good_members()
    members["x_train"] = npy_bytes((10 ** 11, 28, 28), data=bytes(6 * 784))
    write_npz(tmp_path / "mnist.npz", members, compression)
    bounded(lambda: one_line_error(lambda: npz.read_npz(tmp_path / "mnist.npz"),
                                   f"{tmp_path / 'mnist.npz'}[x_train]", "truncated",
                                   "[100000000000, 28, 28]"))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_read_npz_header_size_overflowing_int64(tmp_path, compression):
    members = good_members()
    members["y_test"] = npy_bytes((2 ** 32, 2 ** 32), data=bytes(16))
    write_npz(tmp_path / "mnist.npz", members, compression)
    bounded(lambda: one_line_error(lambda: npz.read_npz(tmp_path / "mnist.npz"),
                                   "[y_test]", "truncated", str(2 ** 64)))


def test_read_npz_data_shorter_than_the_zip_says(tmp_path):
    members = good_members()
    members["x_test"] = npy_bytes((2, 28, 28), data=bytes(784))  # one image of the two
    write_npz(tmp_path / "mnist.npz", members)
    one_line_error(lambda: npz.read_npz(tmp_path / "mnist.npz"), "[x_test]", "truncated")


@pytest.mark.parametrize("split", ["train", "test"])
def test_read_npz_with_zero_images(tmp_path, split):
    np.savez(tmp_path / "mnist.npz", **npz_arrays(**{f"x_{split}": images(0),
                                                     f"y_{split}": labels(0)}))
    one_line_error(lambda: npz.read_npz(tmp_path / "mnist.npz"), f"[x_{split}]", "no images")


def test_read_npz_compressed_and_fortran_order(tmp_path):
    arrays = npz_arrays()
    arrays["x_train"] = np.asfortranarray(arrays["x_train"])
    np.savez_compressed(tmp_path / "mnist.npz", **arrays)
    got = npz.read_npz(tmp_path / "mnist.npz")
    for key, value in arrays.items():
        np.testing.assert_array_equal(getattr(got, key), value)
