"""mnist_tf: the Keras MNIST convnet in low-level TensorFlow 2.

Importing this package first keeps TensorFlow's start-up noise (CUDA probing,
oneDNN banners) off the terminal: it sets ``TF_CPP_MIN_LOG_LEVEL=3`` unless the
user already set it. ``TF_CPP_MIN_LOG_LEVEL=0`` (or a binary's ``--verbosity=1``)
brings the messages back. The variable must be set before TensorFlow is
imported, which is why it lives here and why every module imports TensorFlow
only after this package.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
