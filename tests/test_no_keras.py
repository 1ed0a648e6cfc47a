"""The library never imports Keras: Keras is the oracle, and only tests may use it."""

import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "mnist_tf"
KERAS_IMPORT = re.compile(
    r"^\s*(import\s+keras\b|from\s+keras\b|from\s+tensorflow\s+import\s+keras\b"
    r"|import\s+tensorflow\.keras\b|from\s+tensorflow\.keras\b)"
    r"|\btf\.keras\b|\btensorflow\.keras\b|__import__\(\s*['\"]keras"
    r"|import_module\(\s*['\"](tensorflow\.)?keras\b",
    re.MULTILINE)


def keras_imports(source: str) -> list:
    """The lines of ``source`` that import or reach for Keras (comments and docstrings aside)."""
    code = re.sub(r'("""|\'\'\')[\s\S]*?\1', "", source)
    code = re.sub(r"#.*", "", code)
    return [m.group(0).strip() for m in KERAS_IMPORT.finditer(code)]


def test_the_scanner_sees_every_form():
    for line in ["import keras", "from keras import layers", "x = tf.keras.layers.Dense(3)",
                 "from tensorflow import keras", "import tensorflow.keras as k",
                 "from tensorflow.keras.layers import Dense", "  import keras.src",
                 "m = importlib.import_module('keras')",
                 'importlib.import_module("tensorflow.keras.layers")']:
        assert keras_imports(line), line
    for line in ["# import keras", '"""keras.layers.Conv2D"""', "keras_example_cnn()",
                 "import kerasx"]:
        assert not keras_imports(line), line


def test_no_keras_import_in_the_library():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10
    found = {str(p.relative_to(PACKAGE)): keras_imports(p.read_text()) for p in sources}
    assert not {k: v for k, v in found.items() if v}
