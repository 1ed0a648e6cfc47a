"""Checksums; downloads from a real HTTP server on 127.0.0.1: good, corrupt, dropped, missing."""

import hashlib
import re
import socket
import time

import pytest

from mnist_tf.data import checksums
from mnist_tf.data.download import Unreachable, atomic_write, download
from mnist_tf.errors import DataError

NAME = "t10k-labels-idx1-ubyte.gz"
GOOD = b"the canonical bytes " * 1000


@pytest.fixture
def table():
    return {NAME: checksums.Digests(hashlib.md5(GOOD).hexdigest(),
                                   hashlib.sha256(GOOD).hexdigest())}


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir())


def test_the_canonical_table():
    assert list(checksums.FILES) == [checksums.TRAIN_IMAGES, checksums.TRAIN_LABELS,
                                     checksums.TEST_IMAGES, checksums.TEST_LABELS]
    assert checksums.FILES["train-images-idx3-ubyte.gz"].md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert checksums.FILES["train-labels-idx1-ubyte.gz"].md5 == "d53e105ee54ea40749a09fcbcd1e9432"
    assert checksums.FILES["t10k-images-idx3-ubyte.gz"].md5 == "9fb629c4189551a2d022fa330f9573f3"
    assert checksums.FILES["t10k-labels-idx1-ubyte.gz"].md5 == "ec29112dd5afa0611ce80d1b7f02629c"
    for digests in checksums.FILES.values():
        assert re.fullmatch("[0-9a-f]{64}", digests.sha256)


def test_verify_accepts_the_right_bytes(tmp_path, table):
    (tmp_path / NAME).write_bytes(GOOD)
    assert checksums.verify(tmp_path / NAME, NAME, table) == table[NAME]


def test_verify_names_the_file_and_both_digests(tmp_path, table):
    bad = GOOD[:-1] + b"!"
    (tmp_path / NAME).write_bytes(bad)
    with pytest.raises(DataError) as info:
        checksums.verify(tmp_path / NAME, NAME, table)
    message = str(info.value)
    assert "\n" not in message
    for fragment in (str(tmp_path / NAME), "checksum mismatch", table[NAME].md5,
                     table[NAME].sha256, hashlib.md5(bad).hexdigest(),
                     hashlib.sha256(bad).hexdigest()):
        assert fragment in message, fragment


def test_verify_holds_real_names_to_the_canonical_table(tmp_path):
    (tmp_path / NAME).write_bytes(GOOD)
    with pytest.raises(DataError, match="ec29112dd5afa0611ce80d1b7f02629c"):
        checksums.verify(tmp_path / NAME, NAME)


def test_verify_missing_file(tmp_path, table):
    with pytest.raises(DataError, match="no such file"):
        checksums.verify(tmp_path / NAME, NAME, table)


def test_download_good_file(tmp_path, table, file_server):
    file_server.files[NAME] = GOOD
    download(file_server.url + NAME, tmp_path / NAME, NAME, table=table)
    assert (tmp_path / NAME).read_bytes() == GOOD
    assert leftovers(tmp_path) == [NAME]


def test_download_corrupt_file_leaves_nothing(tmp_path, table, file_server):
    file_server.files[NAME] = GOOD.replace(b"canonical", b"corrupted")
    with pytest.raises(DataError, match="checksum mismatch") as info:
        download(file_server.url + NAME, tmp_path / NAME, NAME, table=table)
    assert file_server.url + NAME in str(info.value)
    assert leftovers(tmp_path) == []


def test_dropped_connection_leaves_nothing(tmp_path, table, file_server):
    file_server.files[NAME] = GOOD
    file_server.drop.add(NAME)
    with pytest.raises(DataError) as info:
        download(file_server.url + NAME, tmp_path / NAME, NAME, table=table)
    assert file_server.url + NAME in str(info.value) and "\n" not in str(info.value)
    assert leftovers(tmp_path) == []


def test_failed_download_keeps_the_previous_file(tmp_path, table, file_server):
    (tmp_path / NAME).write_bytes(b"what was there before")
    file_server.files[NAME] = GOOD
    file_server.drop.add(NAME)
    with pytest.raises(DataError):
        download(file_server.url + NAME, tmp_path / NAME, NAME, table=table)
    assert (tmp_path / NAME).read_bytes() == b"what was there before"
    assert leftovers(tmp_path) == [NAME]


def test_http_error(tmp_path, table, file_server):
    with pytest.raises(DataError, match="HTTP 404"):
        download(file_server.url + NAME, tmp_path / NAME, NAME, table=table)
    assert leftovers(tmp_path) == []


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_fails_fast(tmp_path, table):
    start = time.monotonic()
    with pytest.raises(Unreachable, match="unreachable"):
        download(f"http://127.0.0.1:{closed_port()}/{NAME}", tmp_path / NAME, NAME, table=table)
    assert time.monotonic() - start < 3
    assert leftovers(tmp_path) == []


def test_silent_server_times_out(tmp_path, table):
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        start = time.monotonic()
        with pytest.raises(Unreachable):
            download(f"http://127.0.0.1:{listener.getsockname()[1]}/{NAME}", tmp_path / NAME,
                     NAME, timeout=0.5, table=table)
        assert time.monotonic() - start < 3
    assert leftovers(tmp_path) == []


def test_atomic_write_interrupted_leaves_nothing(tmp_path, table):
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / NAME, NAME, table) as f:
            f.write(GOOD[:100])
            raise KeyboardInterrupt
    assert leftovers(tmp_path) == []
