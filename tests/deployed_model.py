"""The session's trained model exported as every file format, through bin/export.py's main.

The fixture ``deployed`` (conftest.py) calls :func:`export_all` once per session: a copy of
the shared trained run, as a user's run would be, exported as each format from its newest
checkpoint, verified in the format's runtime on the 10,000 test images and written into the
copy. ``litert_int8`` and ``onnx`` are the README's commands as it shows them
(``--checkpoint_dir RUN --format=F``, the file at bin/export.py's default path), which
tests/test_readme.py checks against the README instead of converting again; ``litert``
names its file with ``--output`` and the checkpoint directory itself.
"""

import dataclasses
import json
import os
import shutil

from binaries import main_status as run_main

FILE_FORMATS = ("litert", "litert_int8", "onnx")


@dataclasses.dataclass(frozen=True)
class Exported:
    path: str
    args: list    # bin/export.py's arguments
    stdout: str
    report: dict  # the JSON last line: sizes, accuracy, agreement, max |Δp|


def export_all(logdir: str, directory: str) -> dict:
    """{format: Exported} for a copy of the trained run in ``logdir``, made as
    ``directory/run``, where each file is written."""
    run = os.path.join(directory, "run")
    shutil.copytree(logdir, run)
    exported = {}
    for fmt in FILE_FORMATS:
        args = ["--checkpoint_dir", run, f"--format={fmt}"]
        if fmt == "litert":
            output = os.path.join(run, "model.tflite")
            args = [f"--checkpoint_dir={os.path.join(run, 'checkpoints')}", f"--format={fmt}",
                    f"--output={output}"]
        status, stdout, stderr = run_main("export", *args)
        assert status == 0, stderr
        report = json.loads(stdout.strip().splitlines()[-1])
        assert fmt != "litert" or report["path"] == output, report
        exported[fmt] = Exported(report["path"], args, stdout, report)
    return exported
