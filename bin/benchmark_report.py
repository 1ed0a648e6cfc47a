"""The report of ``bin/benchmark.py``: rounds merged into one result per row, the table, the
ratios against Keras and PyTorch, and the speed knobs' ratios against their goals.

A goal is a ratio of two rows' training throughput measured in one interleaved run; it is
reported as met or missed, never asserted.
"""

import statistics

# (label, numerator row, denominator row, goal or None): training throughput ratios.
GOALS = [
    ("manual/tape", "ours/manual", "ours", None),
    ("ours mixed_bfloat16 / ours float32", "ours/mixed_bfloat16", "ours", 1.3),
    ("ours mixed_bfloat16 / keras mixed_bfloat16", "ours/mixed_bfloat16",
     "keras/mixed_bfloat16", 1.1),
    ("keras mixed_bfloat16 / keras float32", "keras/mixed_bfloat16", "keras", None),
    ("ours steps_per_loop=N / N=1", "ours/steps_per_loop", "ours", 1.0),
    ("keras steps_per_execution=N / N=1", "keras/steps_per_execution", "keras", None),
    ("ours steps_per_loop / keras steps_per_execution", "ours/steps_per_loop",
     "keras/steps_per_execution", None),
]
NATIVE_BFLOAT16_GOALS = ("ours mixed_bfloat16 / ours float32",)
EXPLAIN_P50_GOAL_MS = 150  # one bin/serve.py explain request, "within a blink"


def median_of_rounds(runs):
    """One result per row: the median of each rate and latency over rounds (each round's
    training rate kept too, to show the spread), the largest peak RSS."""
    good = [r for r in runs if "skipped" not in r]
    if not good:
        return runs[0]
    merged = dict(good[0], rounds=len(good))
    for key in good[0]:
        if key.endswith(("per_second", "_ms")) and good[0][key] is not None:
            merged[key] = statistics.median(r[key] for r in good)
    merged["peak_rss_mb"] = max(r["peak_rss_mb"] for r in good)
    if "train_images_per_second" in good[0]:
        merged["train_images_per_second_by_round"] = [r["train_images_per_second"]
                                                      for r in good]
    return merged


def table(results):
    width = max(len("row"), *(len(r["row"]) for r in results))
    rows = [f"{'row':<{width}} {'train img/s':>12} {'rounds min-max':>15} {'eval img/s':>12} "
            f"{'peak RSS MB':>12}  version"]
    for r in results:
        if "skipped" in r:
            rows.append(f"{r['row']:<{width}} skipped: {r['skipped']}")
        elif "p50_ms" in r:
            rows.append(f"{r['row']:<{width}} one request: p50 {r['p50_ms']:,.0f} ms, p95 "
                        f"{r['p95_ms']:,.0f} ms ({r['requests']} requests a round) "
                        f"{r['peak_rss_mb']:>8,.0f}  {r['version']}")
        else:
            by_round = r["train_images_per_second_by_round"]
            spread = f"{min(by_round):,.0f}-{max(by_round):,.0f}"
            rows.append(f"{r['row']:<{width}} {r['train_images_per_second']:>12,.0f} "
                        f"{spread:>15} {r['eval_images_per_second']:>12,.0f} "
                        f"{r['peak_rss_mb']:>12,.0f}  {r['version']}")
    return "\n".join(rows)


def ratios(by_name):
    """ours (and ours/xla) against Keras and PyTorch, training and evaluation."""
    found = {}
    for mine in ("ours", "ours/xla"):
        for other in ("keras", "torch"):
            if mine in by_name and other in by_name:
                for kind in ("train", "eval"):
                    key = f"{kind}_images_per_second"
                    found[f"{mine}/{other} {kind}"] = by_name[mine][key] / by_name[other][key]
    if "ours" in by_name and "keras" in by_name:
        found["ours/keras eval (Keras at its default batch 32)"] = (
            by_name["ours"]["eval_images_per_second"]
            / by_name["keras"]["eval_images_per_second_default_batch"])
    return found


def goals(by_name, native_bfloat16: bool):
    """The knobs' training ratios: {label: {"ratio", "goal", "met"}} for the rows measured.
    A bfloat16 goal on a CPU without native bfloat16 is recorded with ``"goal": None``."""
    found = {}
    for label, numerator, denominator, goal in GOALS:
        if numerator in by_name and denominator in by_name:
            ratio = (by_name[numerator]["train_images_per_second"]
                     / by_name[denominator]["train_images_per_second"])
            if label in NATIVE_BFLOAT16_GOALS and not native_bfloat16:
                goal = None
            found[label] = {"ratio": ratio, "goal": goal,
                            "met": None if goal is None else ratio >= goal}
    return found


def explain_goal_line(by_name):
    """The explain row's p50 against :data:`EXPLAIN_P50_GOAL_MS`, or None without the row."""
    if "explain" not in by_name:
        return None
    p50 = by_name["explain"]["p50_ms"]
    verdict = "met" if p50 <= EXPLAIN_P50_GOAL_MS else "missed"
    return f"explain request p50: {p50:.0f} ms  (goal <= {EXPLAIN_P50_GOAL_MS} ms: {verdict})"


def goal_line(label, entry, steps_per_loop):
    line = f"{label.replace('=N', f'={steps_per_loop}')} train: {entry['ratio']:.2f}x"
    if entry["goal"] is not None:
        verdict = ("met" if entry["met"]
                   else f"missed by {entry['goal'] - entry['ratio']:.2f}x")
        line += f"  (goal >= {entry['goal']:.1f}x: {verdict})"
    elif label in NATIVE_BFLOAT16_GOALS:
        line += "  (the 1.3x goal is for a CPU with native bfloat16: this one has none)"
    return line
