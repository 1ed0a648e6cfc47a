"""An image file's size from its header, read before anything is decoded.

A small file can declare a huge image (a 500 KB PNG of 20000x20000 decodes to
1.6 GB of RGBA); :func:`read` finds ``width x height`` and the number of frames
without decoding, so the caller can refuse the image first. The formats are those
TensorFlow's ``decode_image`` decodes and whose header is checked here:

- PNG: the IHDR chunk (width, height: big-endian uint32 at bytes 16 and 20);
- JPEG: the first SOFn segment (height, width: big-endian uint16 after the precision);
- GIF: the logical screen and every frame's image descriptor (``decode_image``
  decodes every frame, on a canvas as large as the largest frame, even when only
  the first is kept, so the pixels are ``frames x canvas``);
- BMP: the DIB header (little-endian int32 width and height, a negative height
  meaning top-down; 16-bit sizes in the old OS/2 header);
- WebP, still only: the ``VP8 ``, ``VP8L`` or ``VP8X`` chunk. Animated WebP is
  refused: TensorFlow 2.21 corrupts its heap decoding one (the process aborts).

JPEG XL, which ``decode_image`` also names, is not read: its size is not checked
here, so it is not accepted.
"""

import struct
from typing import NamedTuple, Optional

from mnist_tf.errors import DataError

FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WebP")
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ImageSize(NamedTuple):
    format: str
    width: int
    height: int
    frames: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height * self.frames


def read(path) -> Optional[ImageSize]:
    """The image's format and size from its header; None when it is none of :data:`FORMATS`.

    Raises:
      DataError: (one line naming ``path``) a header cut short or an animated WebP.
      OSError: the file cannot be opened.
    """
    with open(path, "rb") as f:
        head = f.read(32)
        reader = _reader(head)
        if reader is None:
            return None
        try:
            return reader(head, f)
        except (struct.error, IndexError):
            raise DataError(f"{path}: truncated image header") from None
        except ValueError as e:
            raise DataError(f"{path}: {e}") from None


def _reader(head: bytes):
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp
    for signature, reader in _SIGNATURES:
        if head.startswith(signature):
            return reader
    return None


def _png(head, f) -> ImageSize:
    if head[12:16] != b"IHDR":
        raise ValueError("PNG without an IHDR chunk first")
    return ImageSize("PNG", *struct.unpack(">II", head[16:24]))


def _exactly(f, n: int) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise struct.error("short read")
    return data


def _jpeg(head, f) -> ImageSize:
    f.seek(2)
    while True:
        marker = _exactly(f, 2)
        while marker[1] == 0xFF:  # fill bytes
            marker = marker[1:] + _exactly(f, 1)
        if marker[0] != 0xFF:
            raise ValueError("JPEG segment without a marker")
        if marker[1] in (0x01, *range(0xD0, 0xD8)):  # standalone markers: no length
            continue
        if marker[1] in (0xD9, 0xDA):  # end of image, start of scan: no frame header before
            raise ValueError("JPEG without a frame header (SOF) before its data")
        (length,) = struct.unpack(">H", _exactly(f, 2))
        if marker[1] in _JPEG_SOF:
            height, width = struct.unpack(">xHH", _exactly(f, 5))
            return ImageSize("JPEG", width, height)
        f.seek(length - 2, 1)


def _skip_sub_blocks(f) -> None:
    while True:
        (size,) = _exactly(f, 1)
        if not size:
            return
        f.seek(size, 1)


def _gif(head, f) -> ImageSize:
    width, height, packed = struct.unpack("<HHB", head[6:11])
    f.seek(13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 13))
    frames = 0
    while True:
        (block,) = _exactly(f, 1)
        if block == 0x21:  # extension: a label, then sub-blocks
            _exactly(f, 1)
            _skip_sub_blocks(f)
        elif block == 0x2C:  # a frame: its descriptor, colour table, LZW code size, data
            _, _, w, h, packed = struct.unpack("<HHHHB", _exactly(f, 9))
            width, height, frames = max(width, w), max(height, h), frames + 1
            f.seek((3 << ((packed & 7) + 1) if packed & 0x80 else 0) + 1, 1)
            _skip_sub_blocks(f)
        elif block == 0x3B or not frames:  # trailer (or garbage before any frame)
            return ImageSize("GIF", width, height, max(frames, 1))
        else:  # garbage after a frame: the decoder stops there too
            return ImageSize("GIF", width, height, frames)


def _bmp(head, f) -> ImageSize:
    (header_size,) = struct.unpack("<I", head[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        return ImageSize("BMP", *struct.unpack("<HH", head[18:22]))
    width, height = struct.unpack("<ii", head[18:26])
    return ImageSize("BMP", abs(width), abs(height))


def _webp(head, f) -> ImageSize:
    chunk = head[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return ImageSize("WebP", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", head[21:25])
        return ImageSize("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        if head[20] & 0x02:
            raise ValueError("an animated WebP (TensorFlow cannot decode it safely): "
                             "save its first frame as a still image")
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return ImageSize("WebP", width, height)
    raise ValueError(f"unknown WebP chunk {chunk!r}")


_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", _png), (b"\xff\xd8\xff", _jpeg), (b"GIF87a", _gif),
               (b"GIF89a", _gif), (b"BM", _bmp))
