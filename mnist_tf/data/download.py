"""Downloading one MNIST file over HTTP(S), and writing any file into the cache atomically.

A file enters its destination only whole and verified: it is streamed into a temporary
file in the same directory, flushed and fsync'ed, checked against its MD5 and SHA-256,
and only then renamed over the destination with ``os.replace`` (atomic on POSIX and
Windows). A dropped connection, a timeout, corrupt content or an interrupt leaves no file
at the destination and no temporary file behind, so nothing half-written is ever trusted.
"""

import contextlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from typing import Mapping

from mnist_tf.data import checksums
from mnist_tf.errors import DataError

TIMEOUT_SECONDS = 3.0  # per socket operation: with no network each mirror fails in seconds
_CHUNK = 1 << 16


class Unreachable(DataError):
    """The server could not be reached (no route, DNS failure, timeout): try another source."""


@contextlib.contextmanager
def atomic_write(dest_path, name: str, table: Mapping[str, checksums.Digests] = None,
                 shown_as: str = None):
    """Yields a binary file; on a clean exit verifies it as ``name`` and renames it into place.

    Args:
      dest_path: where the file ends up (its directory must exist).
      name: which canonical file it must be (a key of ``table``).
      table: the checksum table; default :data:`checksums.FILES`.
      shown_as: how a checksum error names the file (e.g. its URL); default ``dest_path``.

    Raises:
      DataError: the written bytes fail their checksum; nothing is left at ``dest_path``.
    """
    directory = os.path.dirname(os.path.abspath(dest_path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp's 0600 would hide a shared cache from others
            yield f
            f.flush()
            os.fsync(f.fileno())
        checksums.verify(tmp, name, table, shown_as=shown_as or str(dest_path))
        os.replace(tmp, dest_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def download(url: str, dest_path, expected_name: str, timeout: float = TIMEOUT_SECONDS,
             table: Mapping[str, checksums.Digests] = None) -> None:
    """Downloads ``url`` to ``dest_path``, verified as the canonical file ``expected_name``.

    Args:
      url: an ``https://`` (or, for tests, ``http://``) URL.
      dest_path: the destination file; replaced only once the download is whole and verified.
      expected_name: which of the four files it must be (a key of ``table``).
      timeout: seconds allowed for connecting and for each read; short by default so a
        machine with no network moves on to the next source quickly.
      table: the checksum table; default :data:`checksums.FILES`.

    Raises:
      Unreachable: (a DataError, one line naming ``url``) no connection or a timeout.
      DataError: (one line naming ``url``) an HTTP error, a dropped
        connection (fewer bytes than Content-Length) or a checksum mismatch. Nothing is
        left at ``dest_path``.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, \
                atomic_write(dest_path, expected_name, table, shown_as=url) as f:
            length = response.headers.get("Content-Length")
            received = 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                f.write(chunk)
                received += len(chunk)
            if length is not None and received != int(length):
                raise DataError(f"{url}: connection dropped after {received} of {length} bytes")
    except urllib.error.HTTPError as e:
        raise DataError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise Unreachable(f"{url}: unreachable ({e.reason})") from None
    except http.client.IncompleteRead as e:
        raise DataError(f"{url}: connection dropped mid-download ({e})") from None
    except (TimeoutError, ConnectionError) as e:
        raise Unreachable(f"{url}: unreachable ({type(e).__name__} {e})") from None
    except http.client.HTTPException as e:
        raise DataError(f"{url}: {type(e).__name__} {e}".rstrip()) from None
