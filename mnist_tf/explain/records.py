"""One digit of an :class:`~mnist_tf.explain.Explanation` as plain numbers (JSON-ready).

:func:`summary` is what ``bin/explain.py`` prints and ``bin/serve.py`` answers:
the digit, the class c explained, the 10 probabilities and logits, the
integrated-gradients completeness error |Σ IG − (z_c(x) − z_c(0))| and, per
layer, its output shape, max |y| and max |δ|. :func:`maps` adds the five
attribution maps as 28×28 lists.
"""

import numpy as np

from mnist_tf.explain.explanation import FIELDS


def _floats(values, digits=6):
    return np.round(np.asarray(values, np.float64), digits).tolist()


def summary(explanation, b: int) -> dict:
    e = explanation
    return {
        "digit": e.digit(b), "target": int(e.target[b]),
        "probabilities": _floats(e.probabilities[b]), "logits": _floats(e.logits[b]),
        "completeness_error": float(e.completeness_error[b]),
        "layers": [{"name": name, "shape": list(y.shape[1:]),
                    "max_abs_output": float(np.abs(y[b]).max()),
                    "max_abs_delta": float(np.abs(d[b]).max())}
                   for name, y, d in zip(e.names, e.outputs, e.deltas)],
    }


def maps(explanation, b: int) -> dict:
    """The attributions {name: 28×28 nested lists} and Grad-CAM on its own grid."""
    e = explanation
    found = {name: _floats(getattr(e, name)[b], 8) for name in FIELDS}
    found["grad_cam"] = _floats(e.grad_cam[b], 8)
    return found


def line(name: str, explanation, b: int, png: str = None) -> str:
    """``seven.png: 7 (99.8%)  c = 7  IG completeness error 0.0042  → out/seven.png``."""
    e = explanation
    digit = e.digit(b)
    text = (f"{name}: {digit} ({100 * e.probabilities[b][digit]:.1f}%)  c = {int(e.target[b])}  "
            f"IG completeness error {float(e.completeness_error[b]):.4f}")
    return text + (f"  → {png}" if png else "")
