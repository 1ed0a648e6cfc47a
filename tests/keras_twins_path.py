"""Makes ``bin/keras_twins.py`` (the Keras twin of each of our models) importable in tests::

    from keras_twins_path import keras_twins

bin/ is appended to ``sys.path`` (after everything else, so it shadows nothing).
"""

import os
import sys

BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin")
if BIN not in sys.path:
    sys.path.append(BIN)

import keras_twins  # noqa: E402

__all__ = ["keras_twins"]
