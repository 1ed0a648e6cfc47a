"""IDX reading: round trips; a one-line DataError naming the file per bad input, within bounds."""

import gzip
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from conftest import one_line_error

from mnist_tf.data import idx


def images(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def labels(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 10, n, dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_round_trip_images_and_labels(tmp_path, suffix):
    x, y = images(), labels()
    idx.write_idx(tmp_path / f"x{suffix}", x)
    idx.write_idx(tmp_path / f"y{suffix}", y)
    got_x = idx.read_images(tmp_path / f"x{suffix}")
    got_y = idx.read_labels(tmp_path / f"y{suffix}")
    assert got_x.dtype == np.uint8 and got_x.shape == (5, 28, 28)
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    got_x[0, 0, 0] = 1  # a writable array of its own, not a view of the file's bytes


def test_header_is_the_mnist_layout(tmp_path):
    idx.write_idx(tmp_path / "x", images(3))
    idx.write_idx(tmp_path / "y", labels(3))
    assert (tmp_path / "x").read_bytes()[:16] == struct.pack(">IIII", 0x803, 3, 28, 28)
    assert (tmp_path / "y").read_bytes()[:8] == struct.pack(">II", 0x801, 3)
    assert len((tmp_path / "x").read_bytes()) == 16 + 3 * 28 * 28


def test_gzip_detected_by_magic_whatever_the_name(tmp_path):
    idx.write_idx(tmp_path / "x.gz", images())
    (tmp_path / "renamed").write_bytes((tmp_path / "x.gz").read_bytes())
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "renamed"), images())


def test_other_element_types_from_the_header(tmp_path):
    data = np.arange(6, dtype=">i4").reshape(2, 3)
    (tmp_path / "i").write_bytes(struct.pack(">HBBII", 0, 0x0C, 2, 2, 3) + data.tobytes())
    got = idx.read_idx(tmp_path / "i")
    assert got.shape == (2, 3) and got.dtype == np.int32
    np.testing.assert_array_equal(got, np.arange(6).reshape(2, 3))


def test_missing_file(tmp_path):
    one_line_error(lambda: idx.read_idx(tmp_path / "nope.gz"), tmp_path / "nope.gz", "no such file")


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_truncated_file(tmp_path, suffix):
    path = tmp_path / f"x{suffix}"
    raw = struct.pack(">IIII", 0x803, 5, 28, 28) + images().tobytes()
    opener = gzip.open if suffix else open
    with opener(path, "wb") as f:
        f.write(raw[:-100])
    one_line_error(lambda: idx.read_images(path), path, "truncated", "[5, 28, 28]")


def test_truncated_gzip_stream(tmp_path):
    idx.write_idx(tmp_path / "x.gz", images())
    data = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(data[:len(data) // 2])
    one_line_error(lambda: idx.read_idx(tmp_path / "x.gz"), tmp_path / "x.gz", "gzip")


def test_trailing_bytes(tmp_path):
    raw = struct.pack(">II", 0x801, 5) + labels().tobytes() + b"\0"
    (tmp_path / "y").write_bytes(raw)
    one_line_error(lambda: idx.read_labels(tmp_path / "y"), tmp_path / "y", "trailing")


@pytest.mark.parametrize("magic", [0x12345678, 0x00000F03, 0x00000800, 0x01000803])
def test_wrong_magic_number(tmp_path, magic):
    (tmp_path / "x").write_bytes(struct.pack(">IIII", magic, 5, 28, 28) + images().tobytes())
    one_line_error(lambda: idx.read_idx(tmp_path / "x"), tmp_path / "x", "magic",
                    f"{magic:08x}")


def test_empty_and_headerless_files(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    one_line_error(lambda: idx.read_idx(tmp_path / "empty"), "empty", "no header")
    (tmp_path / "short").write_bytes(struct.pack(">IH", 0x803, 5))
    one_line_error(lambda: idx.read_idx(tmp_path / "short"), "short", "header")


def test_images_and_labels_swapped(tmp_path):
    idx.write_idx(tmp_path / "x", images())
    idx.write_idx(tmp_path / "y", labels())
    one_line_error(lambda: idx.read_labels(tmp_path / "x"), tmp_path / "x", "[5, 28, 28]")
    one_line_error(lambda: idx.read_images(tmp_path / "y"), tmp_path / "y", "[5]")


def test_images_of_the_wrong_size(tmp_path):
    idx.write_idx(tmp_path / "x", np.zeros((2, 32, 32), np.uint8))
    one_line_error(lambda: idx.read_images(tmp_path / "x"), "[2, 32, 32]", "[N, 28, 28]")


def test_label_out_of_range(tmp_path):
    idx.write_idx(tmp_path / "y", np.array([0, 9, 10], np.uint8))
    one_line_error(lambda: idx.read_labels(tmp_path / "y"), tmp_path / "y", "label 10")


def test_check_counts_names_both_files():
    one_line_error(lambda: idx.check_counts(images(5), labels(4), "a.gz", "b.gz"),
                    "a.gz has 5 images", "b.gz has 4 labels")


@pytest.mark.parametrize("array", [np.zeros((3, 4), np.uint8), np.zeros(3, np.float32)])
def test_write_idx_refuses_other_arrays(tmp_path, array):
    with pytest.raises(ValueError, match="uint8 with 1 or 3"):
        idx.write_idx(tmp_path / "x", array)


# --- bounded memory whatever a header claims ---

def write_gzip_bomb(path, header: bytes, zeros: int) -> None:
    """A gzip of ``header`` followed by ``zeros`` zero bytes, compressed chunk by chunk."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    chunk = bytes(1 << 20)
    with open(path, "wb") as f:
        f.write(compressor.compress(header))
        for _ in range(zeros // len(chunk)):
            f.write(compressor.compress(chunk))
        f.write(compressor.flush())


def bounded(fn, max_bytes=8 << 20, max_seconds=2.0):
    """Runs ``fn()``; asserts its Python allocation peak and time stay small; returns the peak."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        fn()
    finally:
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < max_bytes and seconds < max_seconds, (peak, seconds)
    return peak


def test_gzip_bomb_is_never_fully_decompressed(tmp_path):
    path = tmp_path / "bomb-images-idx3-ubyte.gz"
    write_gzip_bomb(path, struct.pack(">IIII", 0x803, 1, 28, 28), 200 << 20)  # 200 MB of zeros
    assert path.stat().st_size < 1 << 20
    bounded(lambda: one_line_error(lambda: idx.read_idx(path), path, "trailing", "784 bytes"))


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_header_whose_size_overflows_int64(tmp_path, suffix):
    path = tmp_path / f"x{suffix}"
    opener = gzip.open if suffix else open
    with opener(path, "wb") as f:  # 65536**4 == 2**64: wraps to 0 in int64
        f.write(struct.pack(">HBB4I", 0, 0x08, 4, 65536, 65536, 65536, 65536) + b"\0" * 16)
    bounded(lambda: one_line_error(lambda: idx.read_idx(path), path, "truncated",
                                   "[65536, 65536, 65536, 65536]", str(2 ** 64)))


def test_gzip_header_claiming_more_than_the_file_can_hold(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as f:  # 10**6 images (784 MB) in a file of a few hundred bytes
        f.write(struct.pack(">IIII", 0x803, 10 ** 6, 28, 28) + bytes(1000))
    bounded(lambda: one_line_error(lambda: idx.read_idx(path), path, "truncated",
                                   "[1000000, 28, 28]"))
