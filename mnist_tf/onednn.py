"""Which CPU kernels TensorFlow runs: oneDNN's, or its own (Eigen's). ``--onednn=auto|on|off``.

TensorFlow's x86 wheel carries two implementations of the convolutions, poolings and
matrix products of a CPU step. With oneDNN on, a graph pass rewrites ``Conv2D``,
``Conv2DBackpropFilter``, ``MaxPoolGrad``, ``MatMul`` ... into oneDNN's kernels, which block
the arrays for the CPU's vector width and fuse bias and ReLU into the convolution. TensorFlow
turns oneDNN on by itself only on CPUs with VNNI, BF16 or AMX instructions (AVX-512 VNNI or
BF16, AVX-VNNI, AMX; some Arm cores); elsewhere (e.g. a Zen 3 with AVX2) it stays off
unless ``TF_ENABLE_ONEDNN_OPTS=1`` is in the environment when TensorFlow is imported: the
variable is read once, by the import.

Measured on a 2-core Zen 3 (AVX2+FMA, no AVX-512; BUILD_NOTES.md → The speedrun), a training
step of batch 128, oneDNN against Eigen: the speedrun's ``fast_cnn`` ~1.9× the images/s,
the Keras example's CNN ~1.3-1.6×. The numbers differ in their last bits (another summation
order), like any other kernel choice: Keras on the same setting computes the same.

    choice   TF_ENABLE_ONEDNN_OPTS before the import
    auto     left as it is (TensorFlow's own choice for this CPU, or the caller's variable)
    on       "1"
    off      "0"
"""

import os
import sys

CHOICES = ("auto", "on", "off")
VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def choose(choice: str) -> None:
    """Sets :data:`VARIABLE` for ``choice`` (one of :data:`CHOICES`). Call it before
    TensorFlow is imported; afterwards it changes nothing, see :func:`enabled`."""
    if choice not in CHOICES:
        raise ValueError(f"oneDNN choice must be one of {', '.join(CHOICES)}, got {choice!r}")
    if choice != "auto" and "tensorflow" not in sys.modules:
        os.environ[VARIABLE] = "1" if choice == "on" else "0"


def enabled() -> bool:
    """Whether this process's TensorFlow runs oneDNN's kernels (fixed when it was imported)."""
    from tensorflow.python.util import _pywrap_util_port  # no public API says it

    return bool(_pywrap_util_port.IsMklEnabled())


def mismatch(choice: str):
    """A note when ``choice`` asks for what this process does not run (TensorFlow was imported
    before it was read, e.g. a binary's ``main`` called in a Python session); else None."""
    if choice == "auto" or enabled() == (choice == "on"):
        return None
    return (f"--onednn={choice} has no effect here: TensorFlow was imported before the flag was "
            f"read (oneDNN is {'on' if enabled() else 'off'}); start a new process, or set "
            f"{VARIABLE} before importing TensorFlow")
