"""The session's trained model exported as every file format, through bin/export.py's main.

The fixture ``deployed`` (conftest.py) calls :func:`export_all` once per session: each
format is converted from the shared trained run's newest checkpoint, verified in its
runtime on the 10,000 test images and written, as ``bin/export.py --format=F`` does.
"""

import dataclasses
import json
import os

from binaries import main_status as run_main

FILE_FORMATS = ("litert", "litert_int8", "onnx")


@dataclasses.dataclass(frozen=True)
class Exported:
    path: str
    stdout: str
    report: dict  # the JSON last line: sizes, accuracy, agreement, max |Δp|


def export_all(logdir: str, directory: str) -> dict:
    """{format: Exported} for the trained run in ``logdir``, files written into ``directory``."""
    exported = {}
    for fmt in FILE_FORMATS:
        path = os.path.join(directory, "model_int8.tflite" if fmt == "litert_int8"
                            else "model.tflite" if fmt == "litert" else "model.onnx")
        status, stdout, stderr = run_main("export", f"--checkpoint_dir={logdir}",
                                          f"--format={fmt}", f"--output={path}")
        assert status == 0, stderr
        exported[fmt] = Exported(path, stdout, json.loads(stdout.strip().splitlines()[-1]))
    return exported
