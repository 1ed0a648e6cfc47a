"""The ablation's rows and runs, for ``bin/ablate.py`` (which reads the flags): each row the
speedrun's recipe with one trick removed, run as a child process, and the table of results."""

import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name → (what is removed, flags that remove it, the file that implements the trick)
ROWS = {
    "recipe": ("nothing: bin/flags/fast.flags as it is", [], "bin/flags/fast.flags"),
    "network": ("fast_cnn → the Keras example's CNN", ["--model=keras_example_cnn"],
                "mnist_tf/models/fast_cnn.py"),
    "onednn": ("oneDNN's CPU kernels → TensorFlow's own", ["--onednn=off"],
               "mnist_tf/onednn.py"),
    "one_cycle": ("one-cycle 3e-3 → constant 1e-3 (Keras's Adam)",
                  ["--lr_schedule=constant", "--learning_rate=1e-3"],
                  "mnist_tf/optimizers/schedules.py"),
    "label_smoothing": ("label smoothing 0.1 → none", ["--label_smoothing=0"],
                        "mnist_tf/losses.py"),
    "bfloat16": ("float32 → bfloat16 compute (mixed_bfloat16)", ["--precision=mixed_bfloat16"],
                 "mnist_tf/precision.py"),
    "steps_per_loop": ("a whole epoch (469 steps) per call → 1",
                       ["--steps_per_loop=1", "--log_every=10"], "mnist_tf/training/step.py"),
    "validation": ("no validation split → Keras's 10% held out, evaluated per epoch",
                   ["--validation_split=0.1"], "mnist_tf/training/datasets.py"),
    "export": ("no SavedModel, no mid-epoch checkpoints → both",
               ["--export", "--checkpoint_every_steps=200"], "mnist_tf/export.py"),
}

FLAGS_DEFAULT_RECIPE = os.path.join(ROOT, "bin", "flags", "fast.flags")

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
