"""Every command the README shows is run here as written, with only paths and step counts changed.

The README's commands are read from the file itself: the ``$ ...`` lines of its output blocks
(with the output shown under them), every line of its ``bash`` blocks, its ``python`` snippets
and the commands in its inline code. Each must match one handler below, which runs it — in this
process (``binaries.run_main``) unless only a process shows what it does; the ``--format``
exports are the ``deployed`` fixture's runs of them (tests/deployed_model.py) — and checks that
what it prints has the shape the README shows: each shown line's words before its first number or
path begin a printed line. A command with no handler fails ``test_every_command_has_a_handler``,
so a README example cannot be added without a test that runs it. A command the README shows
twice runs once, checked against the output shown under each.

Only the tests whose commands read the session's trained run (``/tmp/docrun2``, ``logs/<run>``,
its exports) ask for it, lazily, and form its pytest-xdist group (conftest.py); the others
(the trainings, Keras, the benchmark's training rows...) run on either worker meanwhile.
"""

import json
import os
import re
import shlex
import shutil
import sys
import urllib.request

import numpy as np
import pytest

from binaries import BIN, ROOT, run_main
from training_helpers import SMALL

README = os.path.join(ROOT, "README.md")
CUT = ["--steps_per_epoch=2", "--log_every=1"]  # a training run cut to two steps per epoch


def readme_commands() -> list:
    """``(command, shown output lines)`` for every command in the README, in order."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    commands = []
    for language, body in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S):
        if language == "python":
            commands.append(("python-snippet", [body]))
            continue
        for line in body.splitlines():
            if line.startswith("$ "):
                commands.append((line[2:].split("  #")[0].strip(), []))
            elif language == "bash" and line.strip() and not line.startswith("#"):
                commands.append((line.split("  #")[0].strip(), []))
            elif commands and language == "" and commands[-1][0] != "python-snippet":
                commands[-1][1].append(line)
    for span in re.findall(r"`((?:python |tensorboard |\.venv/bin/)[^`]+)`", text):
        commands.append((span.strip(), []))
    return commands


def shape(line: str) -> str:
    """The words of a line before its first number or path: what every run of it prints."""
    return re.split(r"[0-9/<]|logs/", line, maxsplit=1)[0].strip()


def assert_prints_as_shown(printed: str, shown: list) -> None:
    printed_lines = [line.strip() for line in printed.splitlines()]
    for line in shown:
        prefix = shape(line)
        if prefix and not prefix.startswith("..."):
            assert any(p.startswith(prefix) for p in printed_lines), (prefix, printed)


def unique_commands() -> list:
    """``readme_commands()`` with each command once, holding the lines shown under every copy
    (each Python snippet stays one of its own: its code is its "shown")."""
    merged = {}
    for command, shown in readme_commands():
        key = (command, shown[0]) if command == "python-snippet" else command
        merged.setdefault(key, (command, []))[1].extend(shown)
    return list(merged.values())


def binary_args(command: str, paths: dict, user_run=None) -> tuple:
    """``python bin/NAME.py ARGS`` → (NAME, ARGS) with the README's paths mapped to the test's
    (a path's value may be a callable, called when the path is used)."""
    words = shlex.split(command)
    assert words[0] == "python" and words[1].startswith("bin/"), command

    def mapped(word):
        value = paths.get(word, word)
        return value() if callable(value) else value

    args = [mapped(word) for word in words[2:]]
    args = [re.sub(r"^(--\w+=)(.*)$", lambda m: m.group(1) + mapped(m.group(2)), a)
            for a in args]
    # logs/<run>: the user's run, here a copy of the trained run (a callable: copied when used)
    args = [a.replace("logs/<run>", user_run()) if "logs/<run>" in a else a for a in args]
    return os.path.basename(words[1])[:-3], args


class Context:
    """What the handlers share: a directory, the session's trained run, the README's paths."""

    def __init__(self, tmp_path, real_mnist_dir, small_env, fixture, uses_trained_run: bool):
        self.tmp, self.mnist_dir, self.small_env = tmp_path, real_mnist_dir, small_env
        self._fixture, self._uses_trained_run = fixture, uses_trained_run
        self.paths = {"/tmp/docrun2": lambda: self.trained.logdir,
                      "/tmp/docrun2/export": lambda: self.trained.export_dir,
                      "/tmp/exp_cnn": str(tmp_path / "exp_cnn"), "/tmp/ck": str(tmp_path / "ck"),
                      "/tmp/docmir": str(tmp_path / "docmir"), "logs": str(tmp_path / "logs")}
        for name in ("digit.png", "digit.jpg", "bad.png"):
            self.paths[f"/tmp/{name}"] = str(tmp_path / name)
        self.paths["/tmp/explain"] = str(tmp_path / "explain")
        self._run = None

    @property
    def trained(self):
        """The session's trained run (conftest ``trained_run``): only for the commands of
        :func:`uses_trained_run`, which run on its xdist worker."""
        assert self._uses_trained_run, "a command that reads the trained run: see uses_trained_run"
        return self._fixture("trained_run")

    def user_run(self) -> str:
        if self._run is None:
            self._run = _a_run_under_logs(self)
        return self._run

    def run(self, command, extra=(), **kwargs):
        name, args = binary_args(command, self.paths, self.user_run)
        return run_main(name, *args, *extra, **kwargs)


# --- the handlers: (pattern, function(context, command, shown)) ---

def train(ctx, command, shown):
    """A training command, cut to two steps per epoch (one epoch), into the test's logdir, on
    the first digits of MNIST (conftest ``small_mnist_env``), without the epoch's explain
    images (1.5-4 CPU-seconds a run; tests/test_tensorboard.py checks them)."""
    command = re.sub(r" --logdir=\S+", "", command)  # the run goes into the test's directory
    extra = [*CUT, "--epochs=1", f"--logdir={ctx.tmp / 'run'}", "--noexplain_images"]
    if "--export" not in command:
        extra.append("--noexport")
    if "--flagfile" in command:  # a recipe's warm-up must fit the cut run
        extra.append("--warmup_steps=1")
    result = ctx.run(command, extra, env=ctx.small_env)
    assert result.returncode == 0, result.stderr
    assert_prints_as_shown(result.stdout, shown)
    assert f"{SMALL[1]:,} test images" in result.stdout and "test accuracy" in result.stdout
    assert os.path.isfile(ctx.tmp / "run" / "metrics.json")
    return result


def train_mirrored(ctx, command, shown):
    """The README's mirrored example: two replicas, through the epoch's histogram step."""
    result = ctx.run(command, CUT, env=ctx.small_env)
    assert result.returncode == 0, result.stderr
    assert "strategy: MirroredStrategy, 2 replicas" in result.stdout
    assert_prints_as_shown(result.stdout, shown)
    with open(os.path.join(ctx.paths["/tmp/docmir"], "metrics.json")) as f:
        assert json.load(f)["replicas"] == 2


def _a_run_under_logs(ctx) -> str:
    """A copy of the trained run as ``logs/<run>``, as a user's would be."""
    run = ctx.tmp / "logs" / "20261126-184502"
    shutil.copytree(ctx.trained.logdir, run)
    return str(run)


def resume_newest(ctx, command, shown):
    run = _a_run_under_logs(ctx)
    result = run_main("train", "--resume", f"--data_dir={ctx.mnist_dir}", cwd=str(ctx.tmp))
    assert result.returncode == 0, result.stderr
    assert f"resuming the newest run: {os.path.relpath(run, ctx.tmp)}" in result.stdout
    assert "is finished" in result.stdout  # the trained run has done all its epochs


def resume_more_epochs(ctx, command, shown):
    run = _a_run_under_logs(ctx)
    epochs = json.load(open(os.path.join(run, "metrics.json")))["epochs"]
    command = command.replace("logs/<run>", run).replace("--epochs=20", f"--epochs={epochs + 1}")
    result = ctx.run(command, [*CUT[1:], f"--data_dir={ctx.mnist_dir}", "--noexport",
                               "--steps_per_epoch=2"], cwd=str(ctx.tmp))
    # Changing the batching at an epoch's end is allowed: the new epoch is cut to two steps.
    assert result.returncode == 0, result.stderr
    assert f"epoch {epochs + 1}/{epochs + 1}" in result.stdout


def evaluate(ctx, command, shown):
    ctx.deployed_files()
    result = ctx.run(command)
    assert result.returncode == 0, result.stderr
    assert_prints_as_shown(result.stdout, shown)
    assert json.loads(result.stdout.strip().splitlines()[-1])["count"] == 10000


def predict(ctx, command, shown):
    import tensorflow as tf

    digit = ctx.mnist_digit()
    big = np.kron(255 - digit, np.ones((4, 4), np.uint8))[..., None]  # black on white, 112x112
    tf.io.write_file(ctx.paths["/tmp/digit.png"], tf.io.encode_png(big))
    tf.io.write_file(ctx.paths["/tmp/digit.jpg"], tf.io.encode_jpeg(big, quality=95))
    with open(ctx.paths["/tmp/bad.png"], "wb") as f:
        f.write(b"not an image at all")
    ctx.deployed_files()
    result = ctx.run(command)
    assert_prints_as_shown(result.stdout, [line for line in shown if not line.startswith(
        ("error:", "$", "1"))])
    label = ctx.mnist_label()
    assert f"digit.png: {label}" in result.stdout
    if "bad.png" not in command:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1  # `echo $?` below the command in the README
    assert f"digit.jpg: {label}" in result.stdout
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"error: {ctx.paths['/tmp/bad.png']}: not an "
                                                   "image file this program reads")


def echo_status(ctx, command, shown):
    """``echo $?`` follows the predict example: its status is checked there."""
    assert any(c.startswith("python bin/predict.py") for c, _ in readme_commands())


def export(ctx, command, shown):
    """The SavedModel export runs here; a ``--format`` export is the run the ``deployed``
    fixture made of this very command on its copy of the trained run (tests/deployed_model.py),
    its output checked against the README's."""
    if "--format" not in command:
        result = ctx.run(command)
        assert result.returncode == 0, result.stderr
        assert_prints_as_shown(result.stdout, shown)
        assert os.path.isfile(os.path.join(ctx.paths["/tmp/exp_cnn"], "saved_model.pb"))
        return
    deployed = ctx.deployed()
    fmt = re.search(r"--format=(\w+)", command)[1]
    run = deployed[fmt].args[1]
    assert binary_args(command, ctx.paths, lambda: run) == ("export", deployed[fmt].args)
    assert_prints_as_shown(deployed[fmt].stdout, shown)
    written = deployed[fmt].report["path"]
    assert written.startswith(run) and os.path.getsize(written) > 10_000


def explain(ctx, command, shown):
    seven = ctx.tmp / "seven.png"
    import tensorflow as tf

    tf.io.write_file(str(seven), tf.io.encode_png(255 - ctx.mnist_digit()[..., None]))
    result = ctx.run(command, cwd=str(ctx.tmp))
    assert result.returncode == 0, result.stderr
    assert_prints_as_shown(result.stdout, shown)
    if "--json" in command:
        assert json.loads(result.stdout.strip().splitlines()[-1])
    else:
        assert sorted(os.listdir(ctx.paths["/tmp/explain"])) == ["test_0.png", "test_321.png"]


def serve(ctx, command, shown):
    """The server in this process on a free port: one page fetched, then Ctrl-C, a SIGINT to
    this process, which Python raises as KeyboardInterrupt in the main thread, where the server
    runs; it stops and returns 0. test_serve starts bin/serve.py as a process of its own (its
    exit status on SIGINT, its 127.0.0.1 bind)."""
    import signal
    import socket
    import threading
    import time

    with socket.socket() as probe:  # a free port, as --port=0 would pick
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    page, returned = [], threading.Event()

    def fetch_then_interrupt():
        deadline = time.time() + 120
        while not page and not returned.is_set() and time.time() < deadline:
            try:
                page.append(urllib.request.urlopen(f"http://127.0.0.1:{port}/",
                                                   timeout=30).read().decode())
            except OSError:  # not listening yet
                time.sleep(0.1)
        if not returned.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    fetcher = threading.Thread(target=fetch_then_interrupt, daemon=True)
    try:
        fetcher.start()
        result = ctx.run(command, [f"--port={port}"])
        returned.set()
        fetcher.join()
    except KeyboardInterrupt:  # it came after the server had returned, not to stop it
        pytest.fail("bin/serve.py returned before its Ctrl-C")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.returncode == 0, result.stderr
    assert page and "<canvas" in page[0]
    assert f"serving http://127.0.0.1:{port}/" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "stopped"


def python_snippet(ctx, command, shown):
    """The README's SavedModel snippet, run on an export of the trained run."""
    code = shown[0].replace("/tmp/exp_cnn", ctx.trained.export_dir)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    out = namespace["out"]
    assert out["probabilities"].shape == (1, 10) and out["digit"].shape == (1,)


def compare_keras(ctx, command, shown):
    result = ctx.run(command.replace("--steps 5", "--steps 2"), [f"--data_dir={ctx.mnist_dir}"])
    assert result.returncode == 0, result.stderr
    assert_prints_as_shown(result.stdout, shown)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["steps"] == 2 and report["max_loss_difference"] < 1e-6


def keras_reference(ctx, command, shown):
    result = ctx.run(command, ["--epochs=1", "--train_images=256"], env=ctx.small_env)
    assert result.returncode == 0, result.stderr
    assert "test_accuracy" in json.loads(result.stdout.strip().splitlines()[-1])


def benchmark(ctx, command, shown):
    """Each row as the parent's child process runs it (``--worker=ROW``), here in this process,
    cut to the fewest steps, calls, passes and test images; the serve/* models exported first
    as the parent exports them; the parent's tables made from the rows' results.
    tests/test_benchmark.py runs the parent itself with its child processes and checks that it
    prints these tables."""
    if BIN not in sys.path:
        sys.path.insert(0, BIN)
    import benchmark_report as report
    import benchmark_serve as serve

    command = re.sub(r"--(warmup|steps)=\d+", r"--\1=1", command)
    name, args = binary_args(command, ctx.paths, ctx.user_run)
    given = dict(a[2:].partition("=")[::2] for a in args)
    rows = (given.get("rows") or given["frameworks"]).split(",")
    serve_dir = str(ctx.tmp / "serve")
    serve_rows = [row for row in rows if row in serve.SERVE_ROWS]
    if serve_rows:
        serve.prepare(serve_rows, serve_dir, given.get("serve_checkpoint"), ctx.mnist_dir)
    results = []
    for row in rows:
        result = run_main(name, *args, "--rounds=1", "--repeats=1", "--latency_calls=10",
                          "--eval_images=1000", "--eval_batch_size=500",
                          f"--data_dir={ctx.mnist_dir}", f"--worker={row}",
                          f"--serve_dir={serve_dir}")
        assert result.returncode == 0, result.stderr
        row_result = json.loads(result.stdout.strip().splitlines()[-1])
        results.append(report.median_of_rounds([row_result]))
    assert [r["row"] for r in results] == rows
    trained = [r for r in results if r["row"] not in serve.SERVE_ROWS]
    served = [r for r in results if r["row"] in serve.SERVE_ROWS]
    for r in served:
        assert 0 < r["latency_p50_ms"] <= r["latency_p99_ms"] and r["eval_images_per_second"] > 0
    tables = [make(part) for make, part in ((report.table, trained), (serve.table, served))
              if part]
    assert_prints_as_shown("\n".join(tables), shown)


def download(ctx, command, shown):
    """Into a cache of its own that holds the files already: verified, nothing downloaded."""
    cache = ctx.tmp / "cache"
    shutil.copytree(ctx.mnist_dir, cache)
    result = ctx.run(command, env={"MNIST_TF_DATA": str(cache)})
    assert result.returncode == 0, result.stderr
    assert_prints_as_shown(result.stdout, shown[:-1])  # the last line is the cache's path
    assert result.stdout.strip().splitlines()[-1] == str(cache)


def helpshort(ctx, command, shown):
    result = ctx.run(command)
    assert result.returncode == 1 and not result.stderr  # absl's help flags exit with 1
    with open(README, encoding="utf-8") as f:
        table = f.read().split("#### The flags, by group", 1)[1].split("\n\n", 2)[1]
    for flag in set(re.findall(r"`--(?:\[no\])?(\w+)", table)):
        assert f"--{flag}" in result.stdout or f"--[no]{flag}" in result.stdout, flag


def python_c(ctx, command, shown):
    code = shlex.split(command)[2]
    result = run_main_code(code)
    assert "Total params: 34,826" in result


def run_main_code(code: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {})  # noqa: S102 - the README's own one-liner
    return out.getvalue()


def tensorboard(ctx, command, shown):
    """TensorBoard itself, in this process, on a copy of the trained run under logs/."""
    from tensorboard import program

    run = os.path.basename(_a_run_under_logs(ctx))
    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", ctx.paths["logs"], "--port", "0",
                          "--host", "127.0.0.1", "--load_fast", "false"])
    url = board.launch()
    runs = json.loads(urllib.request.urlopen(url + "data/runs", timeout=30).read())
    assert {f"{run}/train", f"{run}/validation", f"{run}/test"} <= set(runs), runs


def setup(ctx, command, shown):
    """The README's two first commands are CI's: .ci/run installs and tests as written. The
    first then trains the default run: cut to two steps, that is the run of the README's first
    training example, which sets only what the cut sets (--epochs, --steps_per_epoch, --logdir)
    and is run by its own test."""
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = f.read()
    assert 'pip install -e ".[test]"' in ci and "python -m pytest" in ci
    if "bin/train.py" in command:
        assert command.endswith(" bin/train.py"), command
        same_run = r"python bin/train\.py( --(epochs|steps_per_epoch|logdir)=\S+)+"
        assert any(re.fullmatch(same_run, c) and handler(c) is train
                   for c, _ in readme_commands()), "no README example trains the default run"


HANDLERS = [
    (r"^python3 -m venv \.venv && .*bin/train\.py$", setup),
    (r"^\.venv/bin/python -m pytest$", setup),
    (r"^python bin/train\.py --strategy=mirrored ", train_mirrored),
    (r"^python bin/train\.py --resume$", resume_newest),
    (r"^python bin/train\.py --resume --logdir=logs/<run> --epochs=\d+$", resume_more_epochs),
    (r"^python bin/train\.py --helpshort$", helpshort),
    (r"^python bin/train\.py( --[\w=/.]+)*$", train),
    (r"^python bin/evaluate\.py ", evaluate),
    (r"^python bin/predict\.py ", predict),
    (r"^echo \$\?$", echo_status),
    (r"^python bin/export\.py ", export),
    (r"^python bin/explain\.py ", explain),
    (r"^python bin/serve\.py ", serve),
    (r"^python-snippet$", python_snippet),
    (r"^python bin/compare_keras\.py ", compare_keras),
    (r"^python bin/keras_reference\.py ", keras_reference),
    (r"^python bin/benchmark\.py ", benchmark),
    (r"^python bin/download\.py$", download),
    (r"^python -c ", python_c),
    (r"^(\.venv/bin/)?tensorboard --logdir logs$", tensorboard),
]


def handler(command):
    matches = [fn for pattern, fn in HANDLERS if re.search(pattern, command)]
    return matches[0] if matches else None


def uses_trained_run(command) -> bool:
    """Whether a command's test reads the session's trained run (as /tmp/docrun2, as a copy
    under logs/, or its exports)."""
    return (handler(command) in (resume_newest, resume_more_epochs, evaluate, predict, export,
                                 explain, serve, python_snippet, tensorboard)
            or "logs/<run>" in command)


def test_every_command_has_a_handler():
    commands = readme_commands()
    assert len(commands) > 15  # the parser found the README's examples
    missing = [command for command, _ in commands if handler(command) is None]
    assert not missing, f"README commands no test runs: {missing}"


@pytest.fixture
def context(tmp_path, real_mnist_dir, small_mnist_env, request):
    ctx = Context(tmp_path, str(real_mnist_dir), small_mnist_env, request.getfixturevalue,
                  uses_trained_run(request.node.callspec.params["command"]))

    def deployed_files():  # the user's exports, as the README's export commands write them
        deployed = request.getfixturevalue("deployed")
        run = ctx.user_run()
        for fmt, name in (("litert_int8", "model_int8.tflite"), ("onnx", "model.onnx")):
            shutil.copy(deployed[fmt].path, os.path.join(run, name))

    ctx.deployed_files = deployed_files
    ctx.deployed = lambda: request.getfixturevalue("deployed")
    ctx.mnist_digit = lambda: request.getfixturevalue("mnist").x_test[0]
    ctx.mnist_label = lambda: int(request.getfixturevalue("mnist").y_test[0])
    return ctx


@pytest.mark.parametrize("command, shown", [
    pytest.param(command, shown, id=command[:60],
                 marks=[pytest.mark.xdist_group("trained_run")] * uses_trained_run(command))
    for command, shown in unique_commands()])
def test_the_readme_command_runs_as_shown(command, shown, context):
    fn = handler(command)
    if fn is None:
        pytest.fail(f"no handler for the README command {command!r}")
    fn(context, command, shown)
