"""Whether two runs ended the same, bit for bit: their weights and their metrics.json figures."""

from mnist_tf.runs import saved_runs

# metrics.json fields that measure the machine or the session, not the training.
TIMINGS = ("wall_seconds", "train_images_per_second", "peak_rss_mb", "finished_at",
           "epochs_run_this_session")


def weights(logdir) -> list:
    """The trainable weights of the newest checkpoint of the run in ``logdir`` (NumPy arrays)."""
    model, _ = saved_runs.load_model(str(logdir))
    return [v.numpy() for v in model.trainable_variables]


def figures(metrics: dict) -> dict:
    """metrics.json without its timings: what two equal runs must share exactly."""
    return {k: v for k, v in metrics.items() if k not in TIMINGS}


def assert_bit_identical(a, b) -> None:
    """The runs in logdirs ``a`` and ``b`` end with byte-for-byte equal weights."""
    wa, wb = weights(a), weights(b)
    assert len(wa) == len(wb)
    for i, (x, y) in enumerate(zip(wa, wb)):
        assert x.tobytes() == y.tobytes(), (i, float(abs(x - y).max()))
