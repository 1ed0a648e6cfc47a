"""bin/explain.py, its main() called in-process: a PNG sheet and one line (or JSON) per digit."""

import importlib
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

import binaries
from mnist_tf.explain import explain
from mnist_tf.runs import saved_runs


@pytest.fixture(scope="module")
def explain_bin():
    """The bin/explain.py module, imported once (the caller's environment put back after)."""
    from absl import flags

    saved, defined = dict(os.environ), set(flags.FLAGS)
    sys.path.insert(0, os.path.join(binaries.ROOT, "bin"))
    try:
        module = importlib.import_module("explain")
    finally:
        sys.path.pop(0)
        os.environ.clear()
        os.environ.update(saved)
    yield module
    module.FLAGS.unparse_flags()
    for flag in set(flags.FLAGS) - defined:  # the next binary defines its own --model
        delattr(flags.FLAGS, flag)
    sys.modules.pop("explain", None)


def _run(module, *args):
    argv = module.FLAGS(["explain.py", *args])
    try:
        module.main(argv)
    finally:
        module.FLAGS.unparse_flags()


def test_sheets_lines_and_json(explain_bin, trained_run, mnist, tmp_path, capsys):
    digit_png = tmp_path / "seven.png"
    Image.fromarray(255 - mnist.x_test[0]).save(digit_png)  # dark ink on white paper
    out = tmp_path / "out"
    _run(explain_bin, f"--model={trained_run.logdir}", "--test_index=0,321",
         f"--out_dir={out}", str(digit_png))
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["test_0", "test_321", "seven"]
    assert lines[0].startswith("test_0: 7 (") and lines[2].startswith("seven: 7 (")
    for name in ("test_0", "test_321", "seven"):
        with Image.open(out / f"{name}.png") as sheet:
            assert sheet.format == "PNG" and sheet.width > 1000 and sheet.height > 400
    _run(explain_bin, f"--model={trained_run.logdir}", "--test_index=321", "--target=2",
         f"--out_dir={out}", "--json")
    record = json.loads(capsys.readouterr().out)
    model, _ = saved_runs.load_model(trained_run.logdir)
    e = explain(model, mnist.x_test[[321]][..., None].astype(np.float32) / 255.0, [2])
    assert record["label"] == 2 and record["target"] == 2 and record["digit"] == e.digit(0)
    np.testing.assert_allclose(record["probabilities"], e.probabilities[0], atol=1e-5)
    np.testing.assert_allclose(record["maps"]["integrated_gradients"],
                               e.integrated_gradients[0], rtol=1e-3, atol=1e-6)
    assert record["completeness_error"] == pytest.approx(float(e.completeness_error[0]),
                                                         rel=1e-3, abs=1e-5)


def test_bad_arguments_are_one_line_errors(explain_bin, trained_run, capsys):
    for args, fragment in ((["--test_index=0"], "--model"),
                           ([f"--model={trained_run.logdir}"], "no digits"),
                           ([f"--model={trained_run.export_dir}", "--test_index=0"],
                            "is a SavedModel"),
                           ([f"--model={trained_run.logdir}", "--test_index=10000"],
                            "--test_index")):
        with pytest.raises(SystemExit) as info:
            _run(explain_bin, *args)
        assert info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith("error: ") and fragment in err, err
