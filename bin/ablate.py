"""What each trick of the speedrun is worth: the recipe with each trick removed in turn.

    python bin/ablate.py                                    # every row, seeds 0-4 (≈ 30 min)
    python bin/ablate.py --rows=recipe,network --seeds=0,1
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
import tempfile

import _app
from absl import flags

from ablation import FLAGS_DEFAULT_RECIPE, ROWS, run_all, summarize, table

FLAGS = flags.FLAGS
flags.DEFINE_list("rows", list(ROWS), f"Rows to run, in this order: {', '.join(ROWS)}.")
flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Seeds of every row.")
flags.DEFINE_string("recipe", FLAGS_DEFAULT_RECIPE,
                    "The flag file of the recipe.")
flags.DEFINE_string("workdir", None, "Where the children's logdirs go. Default: a temporary "
                    "directory, removed at the end.")
flags.DEFINE_bool("markdown", False, "Print the table as Markdown (README.md's), with links.")
flags.DEFINE_integer("timeout", 3600, "Seconds one child may take before it counts as failed.")


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
