"""Shared test set-up. Importing mnist_tf first keeps TensorFlow's start-up noise quiet."""

import mnist_tf  # noqa: F401
