"""mnist_tf: the Keras MNIST convnet in low-level TensorFlow 2.

Importing the package changes nothing in the process: no environment variable,
no file descriptor. The binaries in ``bin/`` quiet TensorFlow's start-up noise
themselves (``bin/_app.py``).
"""

__version__ = "0.1.0"
