"""Image sizes read from headers, and images over the pixel limit refused before decoding."""

import struct
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf

from mnist_tf import image_header, preprocess
from mnist_tf.errors import DataError


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_big_png(path, width, height) -> str:
    """A valid all-black grayscale PNG of ``width x height``, compressed row by row (small file)."""
    compressor, row, idat = zlib.compressobj(9), bytes(width + 1), []  # filter byte 0 + pixels
    for _ in range(height):
        idat.append(compressor.compress(row))
    idat.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(idat))
                + _chunk(b"IEND", b""))
    return str(path)


def write_gif(path, width, height, frames) -> str:
    """A GIF of ``frames`` frames of one colour (LZW: clear, pixel 0, end, per frame)."""
    data = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + bytes(6)  # 2 colours
    for _ in range(frames):
        data += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
        data += b"\x02\x02\x44\x01\x00"  # code size 2; one sub-block: clear, 0, end
    with open(path, "wb") as f:
        f.write(data + b"\x3b")
    return str(path)


def animated_webp_header() -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x02\0\0\0" + (99).to_bytes(3, "little") * 2
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def test_png_jpeg_bmp_and_gif_sizes(tmp_path):
    image = np.zeros((19, 31, 1), np.uint8)
    tf.io.write_file(str(tmp_path / "a.png"), tf.io.encode_png(image))
    tf.io.write_file(str(tmp_path / "a.jpg"), tf.io.encode_jpeg(image))
    tf.io.write_file(str(tmp_path / "p.jpg"), tf.io.encode_jpeg(image, progressive=True))
    (tmp_path / "a.bmp").write_bytes(b"BM" + bytes(12) + struct.pack("<Iii", 40, 31, -19))
    write_gif(tmp_path / "a.gif", 31, 19, 3)
    for name in ("a.png", "a.jpg", "p.jpg", "a.bmp"):
        size = image_header.read(tmp_path / name)
        assert (size.width, size.height, size.frames) == (31, 19, 1), name
    assert image_header.read(tmp_path / "a.gif") == ("GIF", 31, 19, 3)


def test_webp_and_animated_gif_sizes_written_by_pillow(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    frames = [Image.new("L", (31, 19), 40 * i) for i in range(4)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    decoded = tf.io.decode_image(tf.io.read_file(str(tmp_path / "a.gif"))).shape
    assert image_header.read(tmp_path / "a.gif") == ("GIF", 31, 19, 4) and decoded[0] == 4
    for i, options in enumerate([dict(lossless=True), dict(quality=80), dict(exif=b"Exif\0\0x")]):
        Image.new("RGBA", (301, 199)).save(tmp_path / f"{i}.webp", "WEBP", **options)
        assert image_header.read(tmp_path / f"{i}.webp") == ("WebP", 301, 199, 1), options


def test_other_files_are_none_and_cut_headers_errors(tmp_path):
    (tmp_path / "notes.txt").write_bytes(b"seven\n")
    (tmp_path / "a.jxl").write_bytes(b"\xff\x0a" + bytes(30))  # a JPEG XL codestream
    assert image_header.read(tmp_path / "notes.txt") is None
    assert image_header.read(tmp_path / "a.jxl") is None
    (tmp_path / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0")
    (tmp_path / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0\0\x10JFIF")
    for name in ("cut.png", "cut.jpg"):
        with pytest.raises(DataError, match=f"{name}: truncated image header"):
            image_header.read(tmp_path / name)


@pytest.mark.parametrize("make, fragment", [
    (lambda p: write_big_png(p / "big.png", 7000, 7000), "PNG of 7000x7000 = 49,000,000 pixels"),
    (lambda p: write_gif(p / "many.gif", 2000, 2000, 11), "2000x2000 x 11 frames = 44,000,000"),
])
def test_images_over_the_pixel_limit_are_refused_before_decoding(tmp_path, make, fragment):
    path = make(tmp_path)
    start = time.perf_counter()
    with pytest.raises(DataError) as error:
        preprocess.load_digits(path)
    assert time.perf_counter() - start < 0.5
    message = str(error.value)
    assert message.startswith(f"{path}: ") and fragment in message and "\n" not in message
    assert f"{preprocess.MAX_PIXELS:,}" in message


def test_animated_webp_is_refused_before_tensorflow_sees_it(tmp_path):
    (tmp_path / "anim.webp").write_bytes(animated_webp_header())
    with pytest.raises(DataError, match="anim.webp: an animated WebP"):
        preprocess.load_digits(str(tmp_path / "anim.webp"))


def test_formats_named_in_errors_are_those_read(tmp_path):
    (tmp_path / "a.jxl").write_bytes(b"\xff\x0a" + bytes(30))
    with pytest.raises(DataError) as error:
        preprocess.load_digits(str(tmp_path / "a.jxl"))
    assert str(error.value).endswith("(expected PNG, JPEG, GIF, BMP or still WebP)")
    assert "JPEG XL" not in str(error.value)
