"""What each trick of the speedrun is worth: the recipe with each trick removed in turn.

    python bin/ablate.py                                    # every row, seeds 0-4 (≈ 30 min)
    python bin/ablate.py --rows=recipe,float32 --seeds=0,1
    python bin/ablate.py --rows=recipe --seeds=0 -- --epochs=1 --steps_per_epoch=5

Each row is ``bin/train.py --flagfile=<--recipe>`` (``bin/flags/fast.flags``)
plus the flags that undo one trick (``ROWS`` below, each with the file that
implements the trick), plus anything after ``--``. Every run is a child process
of its own, timed from launch to exit (imports, data, tracing, evaluation, all
counted, as a user waits for it); the children run in alternation (seed 0 of
every row, then seed 1 of every row, ...), so that a slow spell of a shared
machine hurts every row alike. For each row the table shows, over the seeds:

    test accuracy   median, min        (metrics.json: the test set, read once, at the end)
    wall            median seconds      (the child, launch to exit)
    images/s        median              (metrics.json: training images / training seconds)
    steps           training steps      (metrics.json)

and ``× recipe``: the row's median wall / the recipe's. A row's run that fails
is shown as failed (its last line of output in a note) and the table goes on.
``--markdown`` prints the table as Markdown with the links, as in README.md; the
last line of output is JSON (every run's figures).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import _app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name → (what is removed, flags that remove it, the file that implements the trick)
ROWS = {
    "recipe": ("nothing: bin/flags/fast.flags as it is", [], "bin/flags/fast.flags"),
    "network": ("fast_cnn → the Keras example's CNN", ["--model=keras_example_cnn"],
                "mnist_tf/models/fast_cnn.py"),
    "float32": ("bfloat16 compute → float32", ["--precision=float32"],
                "mnist_tf/precision.py"),
    "one_cycle": ("one-cycle 4e-3 → constant 1e-3 (Keras's Adam)",
                  ["--lr_schedule=constant", "--learning_rate=1e-3"],
                  "mnist_tf/optimizers/schedules.py"),
    "steps_per_loop": ("100 steps per call → 1", ["--steps_per_loop=1", "--log_every=10"],
                       "mnist_tf/training/step.py"),
    "explain_images": ("no explain/* images → 8 digits explained at each epoch end",
                       ["--explain_images"], "mnist_tf/explain/summaries.py"),
    "validation": ("no validation split → Keras's 10% held out, evaluated per epoch",
                   ["--validation_split=0.1"], "mnist_tf/training/datasets.py"),
    "export": ("no SavedModel, no mid-epoch checkpoints → both",
               ["--export", "--checkpoint_every_steps=200"], "mnist_tf/export.py"),
}

FLAGS_DEFAULT_RECIPE = os.path.join(ROOT, "bin", "flags", "fast.flags")
FLAGS = flags.FLAGS
flags.DEFINE_list("rows", list(ROWS), f"Rows to run, in this order: {', '.join(ROWS)}.")
flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Seeds of every row.")
flags.DEFINE_string("recipe", FLAGS_DEFAULT_RECIPE,
                    "The flag file of the recipe.")
flags.DEFINE_string("workdir", None, "Where the children's logdirs go. Default: a temporary "
                    "directory, removed at the end.")
flags.DEFINE_bool("markdown", False, "Print the table as Markdown (README.md's), with links.")
flags.DEFINE_integer("timeout", 3600, "Seconds one child may take before it counts as failed.")


def child_command(recipe, row, seed, logdir, extra):
    """``python bin/train.py --flagfile=recipe <row's flags> --seed --logdir <extra>``."""
    return [sys.executable, os.path.join(ROOT, "bin", "train.py"), f"--flagfile={recipe}",
            *ROWS[row][1], f"--seed={seed}", f"--logdir={logdir}", *extra]


def run_child(command, logdir, timeout) -> dict:
    """Runs one child; returns its wall seconds and metrics.json's figures (or its error)."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - start
    path = os.path.join(logdir, "metrics.json")
    if done.returncode != 0 or not os.path.exists(path):
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        return {"error": f"exit {done.returncode}: {last}"}
    with open(path) as f:
        metrics = json.load(f)
    return {"wall": wall, "accuracy": metrics["test_accuracy"], "steps": metrics["steps"],
            "images_per_second": metrics["train_images_per_second"]}


def run_all(rows, seeds, recipe, workdir, extra, timeout, log=print) -> dict:
    """Every row × seed, in alternation (all rows of a seed, then the next seed)."""
    results = {row: [] for row in rows}
    for seed in seeds:
        for row in rows:
            logdir = os.path.join(workdir, f"{row}-seed{seed}")
            result = run_child(child_command(recipe, row, seed, logdir, extra), logdir, timeout)
            results[row].append({"seed": seed, **result})
            log(f"{row} seed {seed}: " + (result["error"] if "error" in result else
                f"{result['accuracy']:.4f}, {result['wall']:.1f} s"))
    return results


def summarize(results) -> list:
    """One dict a row: accuracy median/min, wall median, images/s median, steps, × recipe."""
    summary = []
    for row, runs in results.items():
        good = [r for r in runs if "error" not in r]
        entry = {"row": row, "removed": ROWS[row][0], "file": ROWS[row][2],
                 "runs": len(good), "failed": len(runs) - len(good)}
        if good:
            entry.update(
                accuracy_median=statistics.median(r["accuracy"] for r in good),
                accuracy_min=min(r["accuracy"] for r in good),
                wall=statistics.median(r["wall"] for r in good),
                images_per_second=statistics.median(r["images_per_second"] for r in good),
                steps=statistics.median(r["steps"] for r in good))
        summary.append(entry)
    recipe = next((e for e in summary if e["row"] == "recipe" and "wall" in e), None)
    for entry in summary:
        if recipe and "wall" in entry:
            entry["vs_recipe"] = entry["wall"] / recipe["wall"]
    return summary


def table(summary, markdown=False) -> str:
    """The table, as aligned text or as Markdown with each row's file linked."""
    header = ["trick removed", "test accuracy median, min", "wall s", "× recipe", "images/s",
              "steps", "runs"]
    lines = []
    for e in summary:
        name = f"[{e['removed']}]({e['file']})" if markdown else e["row"]
        if "wall" not in e:
            lines.append([name, "failed", "", "", "", "", f"0/{e['failed']}"])
            continue
        lines.append([name, f"{100 * e['accuracy_median']:.2f}%, {100 * e['accuracy_min']:.2f}%",
                      f"{e['wall']:.1f}", f"{e.get('vs_recipe', float('nan')):.2f}",
                      f"{e['images_per_second']:,.0f}", f"{e['steps']:.0f}",
                      f"{e['runs']}/{e['runs'] + e['failed']}"])
    if markdown:
        rows = [header, ["---"] * len(header), *lines]
        return "\n".join("| " + " | ".join(r) + " |" for r in rows)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [header, *lines])


def main(argv):
    extra = argv[1:]  # after "--": passed to every child
    unknown = [row for row in FLAGS.rows if row not in ROWS]
    if unknown or not FLAGS.rows:
        _app.fail(f"--rows: expected some of {', '.join(ROWS)}, got {','.join(FLAGS.rows)!r}")
    try:
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        _app.fail(f"--seeds: expected whole numbers 0 or more, got {','.join(FLAGS.seeds)!r}")
    if not os.path.isfile(FLAGS.recipe):
        _app.fail(f"--recipe: {FLAGS.recipe}: expected a flag file")
    with tempfile.TemporaryDirectory() as scratch:
        workdir = FLAGS.workdir or scratch
        results = run_all(FLAGS.rows, seeds, FLAGS.recipe, workdir, extra, FLAGS.timeout)
    summary = summarize(results)
    print(table(summary, FLAGS.markdown))
    print(json.dumps({"summary": summary, "runs": results}))


if __name__ == "__main__":
    _app.run(main)
